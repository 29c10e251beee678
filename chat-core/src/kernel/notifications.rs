//! The outbox's claims and settlements (invariant 14). Pending notifications live on the
//! participant rows of the records; `Tx::save_changes` keeps their due-time index in the
//! transaction that changed them.

use chrono::{DateTime, Utc};

use crate::error::ChatResult;
use crate::ids::TenantId;
use crate::outbox::{DueNotification, SettledNotification};
use crate::rules;

use super::error::KernelError;
use super::keys::{self, Kind};
use super::tx::Tx;

/// Walks the due-time index up to `now` (with a `tenant`, rows of other tenants are passed
/// over) and claims up to `limit` rows by [`rules::claim_notification`], in this
/// transaction.
pub(crate) fn claim_notifications(
    tx: &Tx<'_>,
    tenant: Option<&TenantId>,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: usize,
) -> ChatResult<Vec<DueNotification>> {
    let start = keys::kind_prefix(Kind::NotificationDue);
    let end = keys::notifications_due_before(now);
    let mut claimed = Vec::new();
    // The scan copied what this transaction's layers hold of the range when it started, so
    // the claims written while walking it do not disturb it.
    for entry in tx.scan(&start, Some(&end), super::engine::Direction::Forward) {
        if claimed.len() >= limit {
            break;
        }
        let (key, _) = entry?;
        let (conversation, user) = keys::split_notification_due(&key)
            .ok_or_else(|| KernelError::corrupt("notification index", "a malformed key"))?;
        let Some(before) = tx.record(conversation)? else {
            continue;
        };
        if tenant.is_some_and(|tenant| &before.conversation.tenant != tenant) {
            continue;
        }
        let mut record = before.clone();
        let Some(participant) = record.participants.iter_mut().find(|p| p.user == user) else {
            continue;
        };
        if let Some(pending) = rules::claim_notification(participant, now, lease_until) {
            claimed.push(DueNotification {
                tenant: record.conversation.tenant.clone(),
                user,
                conversation,
                pending,
            });
            tx.save_changes(Some(&before), &record)?;
        }
    }
    Ok(claimed)
}

/// Settles claims by [`rules::settle_notification`].
pub(crate) fn settle_notifications(tx: &Tx<'_>, settled: &[SettledNotification]) -> ChatResult<()> {
    for one in settled {
        let Some(before) = tx.record(one.due.conversation)? else {
            continue;
        };
        let mut record = before.clone();
        if rules::settle_notification(&mut record, one) {
            tx.save_changes(Some(&before), &record)?;
        }
    }
    Ok(())
}
