//! The outbox in the model (invariant 14), for `Op::Notify`: a worker round with no delay
//! must notify every member with an unread message newer than their last notification and
//! than what they muted (what was unread when they muted, and what came while muted), and
//! may notify only members with something unread who have not muted the conversation (a delete can leave a notification whose
//! new messages are gone but older unread ones remain: notifying those again is allowed).
//! The answer is a range, so `case.rs` checks it here rather than by equality.

use std::collections::{BTreeSet, HashMap};

use super::model::Model;

/// (conversation index, user index).
pub(super) type Recipient = (usize, usize);

/// What the model knows of past notifications.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// The newest seq each recipient was last notified through.
    notified_through: HashMap<Recipient, u64>,
}

impl Outbox {
    /// The recipients a round must notify and those it may.
    pub(super) fn bounds(&self, model: &Model) -> (BTreeSet<Recipient>, BTreeSet<Recipient>) {
        let (mut must, mut may) = (BTreeSet::new(), BTreeSet::new());
        for (index, conversation) in model.conversations.iter().enumerate() {
            if conversation.id.is_none() {
                continue;
            }
            for member in &conversation.members {
                let unread: Vec<u64> = (1u64..)
                    .zip(&conversation.messages)
                    .filter(|(seq, message)| {
                        *seq > member.last_read && message.sender != Some(member.user) && !message.deleted
                    })
                    .map(|(seq, _)| seq)
                    .collect();
                let Some(&newest) = unread.last() else { continue };
                if member.muted {
                    // Muting dropped any notification, and none is made while muted.
                    continue;
                }
                may.insert((index, member.user));
                let through = self.notified_through.get(&(index, member.user)).copied().unwrap_or(0);
                if newest > through.max(member.quiet_through) {
                    must.insert((index, member.user));
                }
            }
        }
        (must, may)
    }

    /// A round notified `recipients` of everything in their conversations so far.
    pub(super) fn notified(&mut self, model: &Model, recipients: &BTreeSet<Recipient>) {
        for &(conversation, user) in recipients {
            let last_seq = model.conversations[conversation].messages.len() as u64;
            self.notified_through.insert((conversation, user), last_seq);
        }
    }
}
