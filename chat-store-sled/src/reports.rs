//! Reports of messages: the `reports` tree, one entry per reporter and message, written in
//! the transaction that checks membership and reads the message.

use chat_core::model::now;
use chat_core::store::{NewReport, Reported};
use chat_core::{ChatResult, Identity, Report, rules};

use crate::error::SledStoreError;
use crate::keys;
use crate::trees::Trees;
use crate::tx::{abort, check, decode};

impl Trees {
    /// [`chat_core::Store::report_message`].
    pub(crate) fn report_message(&self, caller: &Identity, new: &NewReport) -> ChatResult<Reported> {
        let key = keys::report(&caller.tenant, &caller.user, new.message);
        self.transaction(|tx| {
            tx.member_record(caller, new.conversation)?;
            let message = tx.message_by_id(new.conversation, new.message)?;
            let existing = match tx.reports.get(&key)? {
                Some(bytes) => match decode::<Report>("report", &bytes) {
                    Ok(stored) => Some(stored),
                    Err(error) => return abort(error),
                },
                None => None,
            };
            let (report, created) = check(rules::report(
                &message,
                &caller.user,
                existing.as_ref(),
                (new.reason, new.note.as_deref()),
                now(),
            ))?;
            if created {
                let bytes = match serde_json::to_vec(&report) {
                    Ok(bytes) => bytes,
                    Err(source) => return abort(SledStoreError::Encode { what: "report", source }),
                };
                tx.reports.insert(key.as_slice(), bytes)?;
            }
            Ok(Reported {
                report,
                message,
                created,
            })
        })
    }

    /// The caller's reports by a plain prefix scan, by message id.
    pub(crate) fn reports_by(&self, caller: &Identity) -> ChatResult<Vec<Report>> {
        let mut found = Vec::new();
        for entry in self
            .reports
            .scan_prefix(keys::user_prefix(&caller.tenant, &caller.user))
        {
            let (_, bytes) = entry.map_err(SledStoreError::from)?;
            found.push(decode::<Report>("report", &bytes)?);
        }
        Ok(found)
    }
}
