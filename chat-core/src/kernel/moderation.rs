//! Blocks (invariant 13) and reports, written in the same serializable transactions as
//! everything else, so a block and a send of the blocked user never interleave.

use crate::error::ChatResult;
use crate::ids::{Identity, TenantId, UserId};
use crate::model::{Block, Report, now};
use crate::rules;
use crate::store::{NewReport, Reported};

use super::keys::{self, Kind};
use super::records::{decode, encode};
use super::tx::Tx;

pub(crate) fn set_block(
    tx: &Tx<'_>,
    caller: &Identity,
    user: &UserId,
    block: bool,
) -> ChatResult<(Option<Block>, bool)> {
    let key = keys::block(&caller.tenant, &caller.user, user);
    let current: Option<Block> = tx.get(&key)?.map(|bytes| decode("block", &bytes)).transpose()?;
    let (after, changed) = rules::set_block(current.as_ref(), &caller.user, user, block, now());
    if changed {
        match &after {
            Some(stored) => tx.put(key, encode("block", stored)?),
            None => tx.delete(key),
        }
    }
    Ok((after, changed))
}

/// The caller's blocks: ascending keys are the blocked users' ids in byte order.
pub(crate) fn blocks(tx: &Tx<'_>, caller: &Identity) -> ChatResult<Vec<Block>> {
    tx.scan_prefix(&keys::user_prefix(Kind::Block, &caller.tenant, &caller.user))
        .map(|entry| entry.and_then(|(_, bytes)| decode("block", &bytes)))
        .collect()
}

pub(crate) fn is_blocked(tx: &Tx<'_>, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> ChatResult<bool> {
    tx.is_blocked(tenant, blocker, blocked)
}

pub(crate) fn report_message(tx: &Tx<'_>, caller: &Identity, new: &NewReport) -> ChatResult<Reported> {
    let key = keys::report(&caller.tenant, &caller.user, new.message);
    tx.member_record(caller, new.conversation)?;
    let message = tx.message_by_id(new.conversation, new.message)?;
    let existing: Option<Report> = tx.get(&key)?.map(|bytes| decode("report", &bytes)).transpose()?;
    let (report, created) = rules::report(
        &message,
        &caller.user,
        existing.as_ref(),
        (new.reason, new.note.as_deref()),
        now(),
    )?;
    if created {
        tx.put(key, encode("report", &report)?);
    }
    Ok(Reported {
        report,
        message,
        created,
    })
}

/// The caller's reports, by message id.
pub(crate) fn reports_by(tx: &Tx<'_>, caller: &Identity) -> ChatResult<Vec<Report>> {
    tx.scan_prefix(&keys::user_prefix(Kind::Report, &caller.tenant, &caller.user))
        .map(|entry| entry.and_then(|(_, bytes)| decode("report", &bytes)))
        .collect()
}
