//! The operations of a generated sequence: what users do (`Op`), how sequences are
//! generated, and the constants they pick from.

use proptest::prelude::*;

use crate::store::ArchiveFilter;

/// Users taking part in each case.
pub(super) const USERS: usize = 4;

/// The emoji users react with.
pub(super) const EMOJI: [&str; 3] = ["👍", "❤️", "🎉"];

/// The reasons users report for.
pub(super) const REPORT_REASONS: [crate::model::ReportReason; 3] = [
    crate::model::ReportReason::Spam,
    crate::model::ReportReason::Scam,
    crate::model::ReportReason::Other,
];

/// Search texts: name fragments of fixture users and title fragments of groups.
pub(super) const SEARCH_QUERIES: [&str; 5] = ["ana", "BRUNO", "z 3", "group 1", "nobody"];

/// One operation of a generated sequence. Conversation and message numbers pick among the
/// ones that exist at that point (modulo their count), so shrinking keeps sequences valid.
#[derive(Clone, Debug)]
pub(super) enum Op {
    /// Find-or-create a direct conversation, maybe tagged with order `tag`.
    StartDirect {
        actor: usize,
        other: usize,
        tag: Option<u8>,
    },
    /// Create a group.
    CreateGroup { actor: usize, members: Vec<usize> },
    /// Send, maybe with a retry key, maybe as a reply to message number `reply`, maybe
    /// carrying upload number `attach`.
    Send {
        actor: usize,
        conv: usize,
        retry_key: Option<u8>,
        reply: Option<usize>,
        attach: Option<usize>,
    },
    /// Upload a small file into a conversation.
    Upload { actor: usize, conv: usize },
    /// Download upload number `upload` from a conversation.
    Download { actor: usize, conv: usize, upload: usize },
    /// The host posts a system message.
    SendSystem { conv: usize },
    /// React (`present`) or unreact with emoji number `emoji` on message number `msg`.
    React {
        actor: usize,
        conv: usize,
        msg: usize,
        emoji: u8,
        present: bool,
    },
    /// Mark delivered up to a seq or the newest.
    Deliver {
        actor: usize,
        conv: usize,
        up_to: Option<u8>,
    },
    /// Mark read up to a seq or the newest.
    MarkRead {
        actor: usize,
        conv: usize,
        up_to: Option<u8>,
    },
    /// Archive or unarchive.
    Archive { actor: usize, conv: usize, archived: bool },
    /// Mute or unmute.
    Mute { actor: usize, conv: usize, muted: bool },
    /// Clear history.
    Clear { actor: usize, conv: usize },
    /// Edit a message.
    Edit { actor: usize, conv: usize, msg: usize },
    /// Delete a message.
    Delete { actor: usize, conv: usize, msg: usize },
    /// Add a participant.
    Add { actor: usize, conv: usize, user: usize },
    /// Remove a participant (oneself: leave).
    Remove { actor: usize, conv: usize, user: usize },
    /// Walk the whole inbox in pages, maybe filtered by tag (type only, or type and id).
    Inbox {
        actor: usize,
        archive: u8,
        unread_only: bool,
        page: u8,
        tag: Option<Option<u8>>,
    },
    /// Search by a name or title fragment.
    Search { actor: usize, query: u8 },
    /// Read one history page.
    History {
        actor: usize,
        conv: usize,
        after: Option<u8>,
        before: Option<u8>,
        limit: u8,
    },
    /// Read one conversation.
    Get { actor: usize, conv: usize },
    /// Read the totals.
    Stats { actor: usize },
    /// A notification worker round (no delay: everything pending is due).
    Notify,
    /// Block (`block`) or unblock a user, then list the actor's blocks.
    Block { actor: usize, user: usize, block: bool },
    /// The host erases a user (invariant 15).
    Erase { user: usize },
    /// Report message number `msg` for reason number `reason`.
    Report {
        actor: usize,
        conv: usize,
        msg: usize,
        reason: u8,
    },
}

/// The start of every case: one to three conversations, direct (between two different
/// users, maybe tagged) or groups (with at least one other member), so that the operations
/// after it meet existing conversations. Without it a third of the cases never created one
/// (creating is 4 of the 46 weight units below).
pub(super) fn seed_strategy() -> impl Strategy<Value = Vec<Op>> {
    let direct = (0..USERS, 1..USERS, proptest::option::of(0..3u8)).prop_map(|(actor, offset, tag)| Op::StartDirect {
        actor,
        other: (actor + offset) % USERS,
        tag,
    });
    let group =
        (0..USERS, proptest::collection::vec(1..USERS, 1..USERS)).prop_map(|(actor, offsets)| Op::CreateGroup {
            actor,
            members: offsets.into_iter().map(|offset| (actor + offset) % USERS).collect(),
        });
    proptest::collection::vec(prop_oneof![2 => direct, 1 => group], 1..=3)
}

/// A case: the seed conversations, then up to 39 random operations.
pub(super) fn case_strategy() -> impl Strategy<Value = Vec<Op>> {
    (seed_strategy(), proptest::collection::vec(op_strategy(), 1..40)).prop_map(|(mut seed, ops)| {
        seed.extend(ops);
        seed
    })
}

pub(super) fn op_strategy() -> impl Strategy<Value = Op> {
    let user = 0..USERS;
    let conv = 0..8usize;
    prop_oneof![
        3 => (user.clone(), user.clone(), proptest::option::of(0..3u8))
            .prop_map(|(actor, other, tag)| Op::StartDirect { actor, other, tag }),
        1 => (user.clone(), proptest::collection::vec(0..USERS, 0..4))
            .prop_map(|(actor, members)| Op::CreateGroup { actor, members }),
        8 => (
            user.clone(),
            conv.clone(),
            proptest::option::of(0..4u8),
            proptest::option::weighted(0.25, 0..16usize),
            proptest::option::weighted(0.2, 0..8usize)
        )
            .prop_map(|(actor, conv, retry_key, reply, attach)| Op::Send { actor, conv, retry_key, reply, attach }),
        2 => (user.clone(), conv.clone()).prop_map(|(actor, conv)| Op::Upload { actor, conv }),
        1 => (user.clone(), conv.clone(), 0..8usize)
            .prop_map(|(actor, conv, upload)| Op::Download { actor, conv, upload }),
        1 => conv.clone().prop_map(|conv| Op::SendSystem { conv }),
        2 => (user.clone(), conv.clone(), 0..16usize, 0..EMOJI.len() as u8, any::<bool>())
            .prop_map(|(actor, conv, msg, emoji, present)| Op::React { actor, conv, msg, emoji, present }),
        2 => (user.clone(), conv.clone(), proptest::option::of(0..12u8))
            .prop_map(|(actor, conv, up_to)| Op::Deliver { actor, conv, up_to }),
        3 => (user.clone(), conv.clone(), proptest::option::of(0..12u8))
            .prop_map(|(actor, conv, up_to)| Op::MarkRead { actor, conv, up_to }),
        2 => (user.clone(), conv.clone(), any::<bool>())
            .prop_map(|(actor, conv, archived)| Op::Archive { actor, conv, archived }),
        1 => (user.clone(), conv.clone(), any::<bool>()).prop_map(|(actor, conv, muted)| Op::Mute { actor, conv, muted }),
        1 => (user.clone(), conv.clone()).prop_map(|(actor, conv)| Op::Clear { actor, conv }),
        2 => (user.clone(), conv.clone(), 0..16usize).prop_map(|(actor, conv, msg)| Op::Edit { actor, conv, msg }),
        2 => (user.clone(), conv.clone(), 0..16usize).prop_map(|(actor, conv, msg)| Op::Delete { actor, conv, msg }),
        1 => (user.clone(), conv.clone(), user.clone()).prop_map(|(actor, conv, user)| Op::Add { actor, conv, user }),
        1 => (user.clone(), conv.clone(), user.clone()).prop_map(|(actor, conv, user)| Op::Remove { actor, conv, user }),
        2 => (user.clone(), 0..3u8, any::<bool>(), 1..5u8, proptest::option::of(proptest::option::of(0..3u8)))
            .prop_map(|(actor, archive, unread_only, page, tag)| Op::Inbox { actor, archive, unread_only, page, tag }),
        1 => (user.clone(), 0..SEARCH_QUERIES.len() as u8).prop_map(|(actor, query)| Op::Search { actor, query }),
        2 => (
            user.clone(),
            conv.clone(),
            proptest::option::of(0..12u8),
            proptest::option::of(0..14u8),
            1..6u8
        )
            .prop_map(|(actor, conv, after, before, limit)| Op::History { actor, conv, after, before, limit }),
        1 => (user.clone(), conv.clone()).prop_map(|(actor, conv)| Op::Get { actor, conv }),
        1 => user.clone().prop_map(|actor| Op::Stats { actor }),
        2 => Just(Op::Notify),
        2 => (user.clone(), user.clone(), proptest::bool::weighted(0.7))
            .prop_map(|(actor, user, block)| Op::Block { actor, user, block }),
        1 => user.clone().prop_map(|user| Op::Erase { user }),
        1 => (user, conv, 0..16usize, 0..REPORT_REASONS.len() as u8)
            .prop_map(|(actor, conv, msg, reason)| Op::Report { actor, conv, msg, reason }),
    ]
}

pub(super) fn archive_filter(code: u8) -> ArchiveFilter {
    match code {
        0 => ArchiveFilter::Active,
        1 => ArchiveFilter::Archived,
        _ => ArchiveFilter::All,
    }
}
