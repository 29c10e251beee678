//! Blocking (invariant 13): a user stops another from reaching them in direct
//! conversations. The store enforces it inside its transactions
//! ([`crate::rules::send_refused_by_block`]); here are validation, the cap and profiles.

use chrono::{DateTime, Utc};

use crate::directory::Profile;
use crate::error::{ChatError, ChatResult};
use crate::ids::{Identity, UserId};
use crate::model::Block;

use super::ChatServices;

/// One of the actor's blocks, with the blocked user's public profile (a stand-in when the
/// directory no longer knows them).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlockView {
    /// The blocked user.
    pub user: Profile,
    /// When the block was made.
    pub created_at: DateTime<Utc>,
}

/// Blocking and unblocking users ([`ChatServices::blocks`]). Cheap to clone.
#[derive(Clone, Debug)]
pub struct BlockService {
    pub(super) ctx: ChatServices,
}

impl BlockService {
    /// Blocks `user` for the actor; `true` when the block is new (a repeat keeps the first
    /// one and changes nothing). From the moment it returns, `user` can neither start a new
    /// direct conversation with the actor nor send into one they share; the actor keeps the
    /// history and may still send; `user` can neither create a group with the actor nor add
    /// the actor to one, and groups they already share stay as they are. Nothing is told to
    /// `user`.
    ///
    /// Errors: `Validation` on `user` for oneself, a user the directory does not know, or a
    /// new block past [`crate::Limits::blocks_per_user`] (checked before the store, so racing
    /// blocks of one actor may pass it by a few).
    pub async fn block(&self, actor: &Identity, user: UserId) -> ChatResult<(BlockView, bool)> {
        let ctx = &self.ctx;
        if user == actor.user {
            return Err(ChatError::invalid("user", "must be another user"));
        }
        let mut profiles = ctx
            .directory
            .profiles(&actor.tenant, std::slice::from_ref(&user))
            .await?;
        let Some(profile) = profiles.remove(&user) else {
            return Err(ChatError::invalid("user", format!("unknown user: {user}")));
        };
        let existing = ctx.store.blocks(actor).await?;
        let max = ctx.limits.blocks_per_user;
        if existing.len() >= max && !existing.iter().any(|block| block.blocked == user) {
            return Err(ChatError::invalid(
                "user",
                format!("at most {max} users may be blocked"),
            ));
        }
        let (block, changed) = ctx.store.set_block(actor, &user, true).await?;
        let block = block.ok_or_else(|| ChatError::backend("the store kept no block after blocking"))?;
        if changed {
            tracing::debug!(user_id = %actor.user, blocked_user_id = %user, "user blocked");
        }
        Ok((
            BlockView {
                user: profile,
                created_at: block.created_at,
            },
            changed,
        ))
    }

    /// Unblocks `user` for the actor; `true` when they were blocked (unblocking someone
    /// not blocked changes nothing). Conversations that existed work again as before.
    pub async fn unblock(&self, actor: &Identity, user: &UserId) -> ChatResult<bool> {
        let (_, changed) = self.ctx.store.set_block(actor, user, false).await?;
        if changed {
            tracing::debug!(user_id = %actor.user, blocked_user_id = %user, "user unblocked");
        }
        Ok(changed)
    }

    /// The actor's blocks with the blocked users' public profiles, by the blocked user's id;
    /// at most [`crate::Limits::blocks_per_user`] (plus what racing blocks added).
    pub async fn list(&self, actor: &Identity) -> ChatResult<Vec<BlockView>> {
        let ctx = &self.ctx;
        let blocks: Vec<Block> = ctx.store.blocks(actor).await?;
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        let users: Vec<UserId> = blocks.iter().map(|block| block.blocked.clone()).collect();
        let profiles = ctx.profiles(actor, users).await?;
        Ok(blocks
            .into_iter()
            .map(|block| BlockView {
                user: profiles.of(&block.blocked),
                created_at: block.created_at,
            })
            .collect())
    }
}
