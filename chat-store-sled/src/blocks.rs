//! Blocks (invariant 13): the `blocks` tree, written in the same serializable transaction
//! as everything else, so a block and a send of the blocked user never interleave.

use chat_core::model::now;
use chat_core::{Block, ChatResult, ConversationRecord, Identity, TenantId, UserId, rules};

use crate::error::SledStoreError;
use crate::keys;
use crate::trees::Trees;
use crate::tx::{Tx, TxResult, abort, check, decode};

impl Trees {
    /// [`chat_core::Store::set_block`]: one transaction reading and writing the key.
    pub(crate) fn set_block(&self, caller: &Identity, user: &UserId, block: bool) -> ChatResult<(Option<Block>, bool)> {
        let key = keys::block(&caller.tenant, &caller.user, user);
        self.transaction(|tx| {
            let current = match tx.blocks.get(&key)? {
                Some(bytes) => match decode::<Block>("block", &bytes) {
                    Ok(stored) => Some(stored),
                    Err(error) => return abort(error),
                },
                None => None,
            };
            let (after, changed) = rules::set_block(current.as_ref(), &caller.user, user, block, now());
            if changed {
                match &after {
                    Some(stored) => {
                        let bytes = match serde_json::to_vec(stored) {
                            Ok(bytes) => bytes,
                            Err(source) => return abort(SledStoreError::Encode { what: "block", source }),
                        };
                        tx.blocks.insert(key.as_slice(), bytes)?;
                    }
                    None => {
                        tx.blocks.remove(key.as_slice())?;
                    }
                }
            }
            Ok((after, changed))
        })
    }

    /// The caller's blocks by a plain prefix scan: ascending keys are the blocked users' ids
    /// in byte order.
    pub(crate) fn blocks(&self, caller: &Identity) -> ChatResult<Vec<Block>> {
        let mut found = Vec::new();
        for entry in self.blocks.scan_prefix(keys::user_prefix(&caller.tenant, &caller.user)) {
            let (_, bytes) = entry.map_err(SledStoreError::from)?;
            found.push(decode::<Block>("block", &bytes)?);
        }
        Ok(found)
    }

    /// [`chat_core::Store::is_blocked`]: one plain read.
    pub(crate) fn is_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> ChatResult<bool> {
        Ok(self
            .blocks
            .contains_key(keys::block(tenant, blocker, blocked))
            .map_err(SledStoreError::from)?)
    }
}

impl Tx<'_> {
    /// `blocker` of `tenant` has blocked `blocked`, read in the transaction.
    pub(crate) fn is_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> TxResult<bool> {
        Ok(self.blocks.get(keys::block(tenant, blocker, blocked))?.is_some())
    }

    /// [`rules::send_refused_by_block`] for the caller's new words in `record` (a send, an
    /// edit, a reaction).
    pub(crate) fn check_send_not_blocked(&self, caller: &Identity, record: &ConversationRecord) -> TxResult<()> {
        let blocked = match rules::block_that_stops(record, &caller.user) {
            Some(blocker) => self.is_blocked(&caller.tenant, blocker, &caller.user)?,
            None => false,
        };
        check(rules::send_refused_by_block(blocked))
    }
}
