//! Blocking (invariant 13): a blocked user can neither start a direct conversation with the
//! blocker nor send into one they share, also when the block races their sends, nor create
//! a group with the blocker or add them to one; groups they already share are not affected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::ChatError;
use crate::events::EventPayload;
use crate::limits::Limits;
use crate::service::{NewGroupInput, SendMessage, StartDirect};
use crate::store::Store;
use crate::testing::fixtures::Fixture;

use super::{all_history, assert_consistent, tag};

/// True for the neutral refusal of a blocked user: `PermissionDenied`, not naming the block.
fn is_neutral_refusal(error: &ChatError) -> bool {
    matches!(error, ChatError::PermissionDenied { reason } if !reason.contains("block"))
}

/// What a block stops and what it leaves alone: the blocked user's sends and new direct
/// conversations are refused with a neutral reason, typing from them reaches nobody; the
/// blocker keeps the history and may still send and start; groups, non-members and other
/// users are unaffected; unblocking restores everything; repeats change nothing.
pub async fn a_block_stops_direct_messages_from_the_blocked_user_only(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 4);
    let blocks = fx.services.blocks();
    let direct = fx.direct(0, 1).await;
    let hello = fx.send(1, direct, "hello").await;
    let hi = fx.send(0, direct, "hi").await;
    let typo = fx.send(1, direct, "tpyo").await;
    let group = fx.group(0, &[1, 2]).await;

    let (block, created) = blocks.block(fx.user(0), fx.user(1).user.clone()).await.expect("block");
    assert!(created);
    assert_eq!(block.user.id, fx.user(1).user);
    let (again, created_again) = blocks
        .block(fx.user(0), fx.user(1).user.clone())
        .await
        .expect("block again");
    assert!(!created_again, "a repeated block changes nothing");
    assert_eq!(
        again.created_at, block.created_at,
        "a repeated block keeps its first time"
    );
    let listed = blocks.list(fx.user(0)).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].user.id, fx.user(1).user);
    assert!(
        blocks.list(fx.user(1)).await.expect("list").is_empty(),
        "blocks are the blocker's"
    );

    let edit = fx
        .messages()
        .edit(fx.user(1), direct, hello.id, "hello again")
        .await
        .expect_err("the blocked user's edit is refused");
    assert!(is_neutral_refusal(&edit), "{edit:?}");
    let react = fx
        .messages()
        .react(fx.user(1), direct, hi.id, "👍")
        .await
        .expect_err("the blocked user's reaction is refused");
    assert!(is_neutral_refusal(&react), "{react:?}");
    fx.messages()
        .delete(fx.user(1), direct, typo.id)
        .await
        .expect("the blocked user may still delete their own message");

    fx.bus.take();
    let refused = fx
        .messages()
        .send(fx.user(1), direct, SendMessage::text("are you there?"))
        .await
        .expect_err("the blocked user's send is refused");
    assert!(is_neutral_refusal(&refused), "{refused:?}");
    let outsider = fx
        .messages()
        .send(fx.user(2), direct, SendMessage::text("let me in"))
        .await
        .expect_err("a non-member's send");
    assert!(outsider.is_not_found(), "a non-member still sees nothing: {outsider:?}");
    fx.messages().typing(fx.user(1), direct).await.expect("typing");
    assert!(
        fx.bus.take().is_empty(),
        "neither the refused send nor the blocked user's typing reaches anyone"
    );
    fx.messages().typing(fx.user(0), direct).await.expect("typing");
    assert!(
        fx.bus
            .take()
            .iter()
            .any(|event| matches!(event.payload, EventPayload::Typing { .. })),
        "the blocker's typing still goes out"
    );

    let bodies: Vec<String> = all_history(&fx, 0, direct).await.into_iter().map(|m| m.body).collect();
    assert_eq!(
        bodies,
        ["hello", "hi", ""],
        "the blocker keeps the history, nothing new arrived"
    );
    fx.send(0, direct, "the blocker may still send").await;
    fx.send(1, group, "groups are not affected").await;
    let others = fx.direct(2, 1).await;
    fx.send(2, others, "others are not affected").await;

    let (existing, created) = fx
        .conversations()
        .start_direct(fx.user(1), StartDirect::with(fx.user(0).user.clone()))
        .await
        .expect("the existing conversation still opens");
    assert!(!created);
    assert_eq!(existing.conversation.id, direct);
    let before = fx.conversations().stats(fx.user(1)).await.expect("stats");
    let refused = fx
        .conversations()
        .start_direct(
            fx.user(1),
            StartDirect::with(fx.user(0).user.clone()).tagged(tag("Order", 7)),
        )
        .await
        .expect_err("a new conversation with the blocker is refused");
    assert!(is_neutral_refusal(&refused), "{refused:?}");
    let after = fx.conversations().stats(fx.user(1)).await.expect("stats");
    assert_eq!(
        after.total_conversations, before.total_conversations,
        "nothing was created"
    );
    let (_, created) = fx
        .conversations()
        .start_direct(
            fx.user(0),
            StartDirect::with(fx.user(1).user.clone()).tagged(tag("Order", 8)),
        )
        .await
        .expect("the blocker may start one");
    assert!(created);

    assert!(blocks.unblock(fx.user(0), &fx.user(1).user).await.expect("unblock"));
    assert!(
        !blocks
            .unblock(fx.user(0), &fx.user(1).user)
            .await
            .expect("unblock again")
    );
    assert!(blocks.list(fx.user(0)).await.expect("list").is_empty());
    fx.send(1, direct, "back again").await;
    assert_consistent(&fx, 0, direct).await;
    assert_consistent(&fx, 1, direct).await;
}

/// Blocking oneself or a user the directory does not know, or past
/// [`Limits::blocks_per_user`], is a validation error on `user` that stores nothing;
/// blocking someone already blocked works at the cap.
pub async fn blocks_are_validated_and_capped(store: Arc<dyn Store>) {
    let limits = Limits {
        blocks_per_user: 2,
        ..Limits::default()
    };
    let fx = Fixture::with_limits(store, 4, limits);
    let blocks = fx.services.blocks();
    let on_user =
        |error: ChatError| matches!(error, ChatError::Validation(ref fields) if fields.fields().contains_key("user"));
    assert!(on_user(
        blocks
            .block(fx.user(0), fx.user(0).user.clone())
            .await
            .expect_err("self")
    ));
    let stranger = crate::ids::UserId::new("nobody-here").expect("a user id");
    assert!(on_user(blocks.block(fx.user(0), stranger).await.expect_err("unknown")));
    blocks.block(fx.user(0), fx.user(1).user.clone()).await.expect("first");
    blocks.block(fx.user(0), fx.user(2).user.clone()).await.expect("second");
    assert!(on_user(
        blocks
            .block(fx.user(0), fx.user(3).user.clone())
            .await
            .expect_err("past the cap")
    ));
    let (_, created) = blocks
        .block(fx.user(0), fx.user(1).user.clone())
        .await
        .expect("a repeat at the cap");
    assert!(!created);
    let blocked: Vec<String> = blocks
        .list(fx.user(0))
        .await
        .expect("list")
        .into_iter()
        .map(|block| block.user.id.to_string())
        .collect();
    assert_eq!(blocked, [fx.user(1).user.to_string(), fx.user(2).user.to_string()]);
}

/// A block racing 16 concurrent senders (invariant 13 under concurrency): no send of the
/// blocked user commits after the block is stored, and every send started after the block
/// returned is refused. Five rounds, each in a new conversation.
pub async fn a_block_racing_16_senders_lets_no_send_in_after_it(store: Arc<dyn Store>) {
    const ROUNDS: usize = 5;
    let fx = Fixture::new(store, 2 * ROUNDS);
    for round in 0..ROUNDS {
        race_a_block_against_sends(&fx, 2 * round, 2 * round + 1).await;
    }
}

/// One round of [`a_block_racing_16_senders_lets_no_send_in_after_it`]: `blocker` blocks
/// `sender` while 16 tasks of `sender` send into their direct conversation.
async fn race_a_block_against_sends(fx: &Fixture, blocker: usize, sender: usize) {
    const SENDERS: usize = 16;
    /// Acknowledged sends to wait for before blocking, so the senders are in full flow.
    const BEFORE_BLOCK: usize = 16;
    let direct = fx.direct(blocker, sender).await;
    let blocked = Arc::new(AtomicBool::new(false));
    let acknowledged_so_far = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..SENDERS)
        .map(|task| {
            let fx = fx.clone();
            let blocked = Arc::clone(&blocked);
            let acknowledged_so_far = Arc::clone(&acknowledged_so_far);
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    let started_after_block = blocked.load(Ordering::SeqCst);
                    match fx
                        .messages()
                        .send(fx.user(sender), direct, SendMessage::text(format!("t{task} m{n}")))
                        .await
                    {
                        Ok(sent) => {
                            assert!(
                                !started_after_block,
                                "a send started after the block returned was stored"
                            );
                            acknowledged.push(sent.message.message.seq);
                            acknowledged_so_far.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(error) if is_neutral_refusal(&error) => {
                            if started_after_block {
                                break;
                            }
                        }
                        Err(error) => panic!("unexpected error {error}"),
                    }
                    tokio::task::yield_now().await;
                }
                acknowledged
            })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while acknowledged_so_far.load(Ordering::SeqCst) < BEFORE_BLOCK {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the senders were not acknowledged in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    fx.services
        .blocks()
        .block(fx.user(blocker), fx.user(sender).user.clone())
        .await
        .expect("block");
    blocked.store(true, Ordering::SeqCst);
    let at_block = fx
        .conversations()
        .get(fx.user(blocker), direct)
        .await
        .expect("get")
        .conversation
        .last_seq;
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.expect("sender task"));
    }
    let last_seq = fx
        .conversations()
        .get(fx.user(blocker), direct)
        .await
        .expect("get")
        .conversation
        .last_seq;
    // A send that read "not blocked" before the block committed and committed itself after
    // the block returned and the conversation was read shows up here (a store without the
    // block's locks fails this in practice; one committing in the instant between the block
    // and the read would pass unseen).
    assert_eq!(last_seq, at_block, "a send committed after the block was stored");
    acknowledged.sort_unstable();
    let expected: Vec<u64> = (1..=last_seq).collect();
    assert_eq!(acknowledged, expected, "every stored message was acknowledged once");
    assert_consistent(fx, blocker, direct).await;
}

/// Issue 32, item 3: a block is not bypassed through a group. After 0 blocks 1, user 1's new
/// group with 0 (alone or among others) and user 1 adding 0 to a group are refused with the
/// neutral answer and change nothing; a group they already share stays; the blocker may
/// still create a group with user 1 and add them; user 1 may still build groups without 0;
/// unblocking lets user 1 add 0 again.
pub async fn a_block_keeps_the_blocked_user_from_bringing_the_blocker_into_groups(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 4);
    let conversations = fx.conversations();
    let shared = fx.group(1, &[0, 2]).await;
    let own = fx.group(1, &[2]).await;
    fx.services
        .blocks()
        .block(fx.user(0), fx.user(1).user.clone())
        .await
        .expect("block");
    let group_of = |members: &[usize]| NewGroupInput {
        participants: members.iter().map(|&index| fx.user(index).user.clone()).collect(),
        title: "Weekend".into(),
        tag: None,
        metadata: Default::default(),
    };
    let inbox_of = |user: usize| {
        let conversations = fx.conversations();
        let user = fx.user(user).clone();
        async move {
            let page = conversations
                .inbox(&user, crate::service::InboxFilter::default())
                .await
                .expect("inbox");
            page.items
                .into_iter()
                .map(|view| view.conversation.id)
                .collect::<Vec<_>>()
        }
    };
    let before = inbox_of(1).await;
    for members in [&[0][..], &[2, 0, 3][..]] {
        let refused = conversations
            .create_group(fx.user(1), group_of(members))
            .await
            .expect_err("a group with the blocker is refused");
        assert!(is_neutral_refusal(&refused), "{refused:?}");
    }
    assert_eq!(inbox_of(1).await, before, "no group was created");
    let refused = conversations
        .add_participants(fx.user(1), own, vec![fx.user(0).user.clone()])
        .await
        .expect_err("adding the blocker is refused");
    assert!(is_neutral_refusal(&refused), "{refused:?}");
    let refused = conversations
        .add_participants(fx.user(1), own, vec![fx.user(3).user.clone(), fx.user(0).user.clone()])
        .await
        .expect_err("adding the blocker among others is refused");
    assert!(is_neutral_refusal(&refused), "{refused:?}");
    let view = conversations.get(fx.user(1), own).await.expect("own group");
    assert_eq!(view.participants.len(), 2, "nobody was added");
    assert!(!inbox_of(0).await.contains(&own), "the blocker did not get the group");

    fx.send(1, shared, "the group they already share stays").await;
    let with_others = conversations
        .create_group(fx.user(1), group_of(&[2, 3]))
        .await
        .expect("a group without the blocker");
    assert_eq!(with_others.participants.len(), 3);
    let blockers_group = conversations
        .create_group(fx.user(0), group_of(&[1]))
        .await
        .expect("the blocker may create a group with the blocked user");
    conversations
        .add_participants(
            fx.user(0),
            blockers_group.conversation.id,
            vec![fx.user(3).user.clone()],
        )
        .await
        .expect("the blocker adds others");

    fx.services
        .blocks()
        .unblock(fx.user(0), &fx.user(1).user)
        .await
        .expect("unblock");
    let view = conversations
        .add_participants(fx.user(1), own, vec![fx.user(0).user.clone()])
        .await
        .expect("after unblocking the blocker can be added");
    assert_eq!(view.participants.len(), 3);
}
