//! Muting a conversation (per member): unread counts go on, notifications stop.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::TimeDelta;

use crate::ids::UserId;
use crate::store::Store;

use super::notifications::{DELAY, claim_at, later, notifying};

/// A member who muted a conversation still gets its messages counted as unread (badge,
/// stats, inbox) but no pending notification; muting drops one already pending, and
/// muting twice changes nothing more. After unmuting, the next message notifies again,
/// from that message on. The other members are not affected.
pub async fn a_muted_conversation_counts_unread_but_notifies_no_one_who_muted_it(store: Arc<dyn Store>) {
    let fx = notifying(store, 3, DELAY);
    let conversations = fx.conversations();
    let group = fx.group(0, &[1, 2]).await;
    let muted = conversations.mute(fx.user(1), group).await.expect("mute");
    let muted_again = conversations.mute(fx.user(1), group).await.expect("mute twice");
    assert_eq!(muted_again.conversation.last_seq, muted.conversation.last_seq);
    for index in 0..3 {
        fx.send(0, group, &format!("message {index}")).await;
    }
    let view = conversations.get(fx.user(1), group).await.expect("get");
    let own = view.participant(&fx.user(1).user).expect("own row");
    assert!(own.muted, "the member's row says muted");
    assert_eq!(own.unread_count, 3, "a muted conversation still counts unread");
    assert_eq!(
        fx.conversations()
            .stats(fx.user(1))
            .await
            .expect("stats")
            .unread_messages,
        3
    );
    let others = view.participant(&fx.user(2).user).expect("u2's row");
    assert!(!others.muted, "muting is the caller's own");

    let due = claim_at(&fx, later()).await;
    let users: BTreeSet<&UserId> = due.iter().map(|due| &due.user).collect();
    assert_eq!(
        users,
        BTreeSet::from([&fx.user(2).user]),
        "no notification for who muted it"
    );

    // Muting drops what is already pending: u2 mutes with a claimed one pending.
    conversations.mute(fx.user(2), group).await.expect("u2 mutes");
    conversations.unmute(fx.user(1), group).await.expect("unmute");
    fx.send(0, group, "after unmuting").await;
    let after_lease = later() + TimeDelta::hours(1);
    let due = claim_at(&fx, after_lease).await;
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].user, fx.user(1).user, "muting dropped u2's pending notification");
    assert_eq!(due[0].pending.first_unread_seq, 4, "told of what came after unmuting");
}
