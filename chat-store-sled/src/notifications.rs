//! The outbox's claims and settlements (invariant 14). The pending notifications
//! themselves live on the participant rows of the records, and `Tx::save_changes` keeps
//! their `notifications_due` index in the transaction that changed them.

use chat_core::notification::{DueNotification, SettledNotification};
use chat_core::{ChatResult, TenantId, rules};
use chrono::{DateTime, Utc};

use crate::error::SledStoreError;
use crate::keys;
use crate::trees::Trees;

impl Trees {
    /// Walks `notifications_due` up to `now` (a plain scan; with a `tenant`, rows of other
    /// tenants are read and passed over), then claims what it found in
    /// one transaction that reads each record again and applies
    /// [`rules::claim_notification`]: a row a concurrent claim, read or send changed
    /// meanwhile is claimed only if it is still due.
    pub(crate) fn claim_notifications(
        &self,
        tenant: Option<&TenantId>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<DueNotification>> {
        let mut candidates = Vec::new();
        for entry in self.notifications_due.range(..keys::notifications_due_before(now)) {
            if candidates.len() >= limit {
                break;
            }
            let (key, _) = entry.map_err(SledStoreError::from)?;
            let found = keys::split_notification_due(&key)
                .ok_or_else(|| SledStoreError::corrupt("notification index", "a malformed key"))?;
            if let Some(tenant) = tenant {
                let theirs = self.record(found.0)?;
                if theirs.is_none_or(|record| &record.conversation.tenant != tenant) {
                    continue;
                }
            }
            candidates.push(found);
        }
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        self.transaction(|tx| {
            let mut claimed = Vec::with_capacity(candidates.len());
            for (conversation, user) in &candidates {
                let Some(before) = tx.record(*conversation)? else {
                    continue;
                };
                if tenant.is_some_and(|tenant| &before.conversation.tenant != tenant) {
                    continue;
                }
                let mut record = before.clone();
                let Some(participant) = record.participants.iter_mut().find(|p| &p.user == user) else {
                    continue;
                };
                if let Some(pending) = rules::claim_notification(participant, now, lease_until) {
                    claimed.push(DueNotification {
                        tenant: record.conversation.tenant.clone(),
                        user: user.clone(),
                        conversation: *conversation,
                        pending,
                    });
                    tx.save_changes(Some(&before), &record)?;
                }
            }
            Ok(claimed)
        })
    }

    /// Settles claims in one transaction by [`rules::settle_notification`].
    pub(crate) fn settle_notifications(&self, settled: &[SettledNotification]) -> ChatResult<()> {
        self.transaction(|tx| {
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
        })
    }
}
