//! Blocks (invariant 13): the `blocks` table (see the migration `blocks`), and the locks
//! that serialize a block with the sends and starts it stops.
//!
//! - A send checks the block in the `append_message` function after taking the
//!   conversation's row lock. [`PgStore::set_block`] takes the row locks of the pair's direct
//!   conversations before writing the block, so a send either commits first or, under READ
//!   COMMITTED, reads the committed block in its next statement: no send of the blocked
//!   user commits after the block.
//! - Creating a direct conversation and blocking take the same transaction-scoped advisory
//!   lock of the pair, so a new conversation never slips past a block being stored.

use chat_core::model::now;
use chat_core::{Block, ChatResult, Identity, TenantId, UserId, rules};
use sqlx::postgres::PgConnection;
use sqlx::{Row, postgres::PgRow};

use crate::error::db;
use crate::store::{PgStore, finish};

fn block_from_row(row: &PgRow) -> ChatResult<Block> {
    let user = |column: &str| -> ChatResult<UserId> {
        let text: String = row.try_get(column).map_err(db)?;
        UserId::new(text).map_err(|error| crate::PgStoreError::Corrupt(format!("block {column}: {error}")).into())
    };
    Ok(Block {
        blocker: user("blocker")?,
        blocked: user("blocked")?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

impl PgStore {
    /// Takes the advisory lock of the pair (`a`, `b`) of `tenant` for the transaction.
    pub(crate) async fn lock_pair(
        &self,
        conn: &mut PgConnection,
        tenant: &TenantId,
        a: &UserId,
        b: &UserId,
    ) -> ChatResult<()> {
        let (low, high) = rules::direct_pair(a, b);
        sqlx::query(&self.sql.blocks.lock_pair)
            .bind(tenant.as_str())
            .bind(low.as_str())
            .bind(high.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// True when `blocker` of `tenant` has blocked `blocked`, read on `conn`.
    pub(crate) async fn read_block(
        &self,
        conn: &mut PgConnection,
        tenant: &TenantId,
        blocker: &UserId,
        blocked: &UserId,
    ) -> ChatResult<Option<Block>> {
        let row = sqlx::query(&self.sql.blocks.get)
            .bind(tenant.as_str())
            .bind(blocker.as_str())
            .bind(blocked.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        row.as_ref().map(block_from_row).transpose()
    }

    /// [`rules::send_refused_by_block`] for the caller's edit or reaction in `record`, whose
    /// row lock the caller holds (so a block being stored waits for it, or is seen).
    pub(crate) async fn refuse_if_blocked(
        &self,
        conn: &mut PgConnection,
        caller: &Identity,
        record: &chat_core::ConversationRecord,
    ) -> ChatResult<()> {
        let blocked = match rules::block_that_stops(record, &caller.user) {
            Some(blocker) => self
                .read_block(conn, &caller.tenant, blocker, &caller.user)
                .await?
                .is_some(),
            None => false,
        };
        rules::send_refused_by_block(blocked)
    }

    /// [`chat_core::store::ModerationStore::set_block`]: the pair's advisory lock, the row locks of its
    /// direct conversations, then [`rules::set_block`], in one transaction.
    /// [`rules::group_refused_by_block`] for the users a group write brings together with the
    /// caller (`joining`: a new group's members, or the users an addition added), in the
    /// write's transaction: under the advisory lock of each pair (the lock `set_block` takes
    /// first), so a block either committed before and is seen by the next statement, or
    /// waits until this write has committed (a group they already shared).
    pub(crate) async fn refuse_group_if_blocked(
        &self,
        conn: &mut PgConnection,
        caller: &Identity,
        joining: &[UserId],
    ) -> ChatResult<()> {
        let others: Vec<&str> = rules::joining_others(&caller.user, joining)
            .map(UserId::as_str)
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        sqlx::query(&self.sql.blocks.lock_pairs)
            .bind(caller.tenant.as_str())
            .bind(caller.user.as_str())
            .bind(&others)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        let blocked = sqlx::query(&self.sql.blocks.blocked_by_any)
            .bind(caller.tenant.as_str())
            .bind(caller.user.as_str())
            .bind(&others)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?
            .is_some();
        rules::group_refused_by_block(blocked)
    }

    pub(crate) async fn set_block(
        &self,
        caller: &Identity,
        user: &UserId,
        block: bool,
    ) -> ChatResult<(Option<Block>, bool)> {
        let mut tx = self.begin().await?;
        let result = self.set_block_in(&mut tx, caller, user, block).await;
        finish(tx, result).await
    }

    async fn set_block_in(
        &self,
        conn: &mut PgConnection,
        caller: &Identity,
        user: &UserId,
        block: bool,
    ) -> ChatResult<(Option<Block>, bool)> {
        let (tenant, blocker) = (&caller.tenant, &caller.user);
        if block {
            self.lock_pair(conn, tenant, blocker, user).await?;
            let (low, high) = rules::direct_pair(blocker, user);
            sqlx::query(&self.sql.blocks.lock_directs)
                .bind(tenant.as_str())
                .bind(low.as_str())
                .bind(high.as_str())
                .fetch_all(&mut *conn)
                .await
                .map_err(db)?;
        }
        let current = self.read_block(conn, tenant, blocker, user).await?;
        let (after, changed) = rules::set_block(current.as_ref(), blocker, user, block, now());
        if changed {
            let statement = match &after {
                Some(stored) => sqlx::query(&self.sql.blocks.insert)
                    .bind(tenant.as_str())
                    .bind(blocker.as_str())
                    .bind(user.as_str())
                    .bind(stored.created_at),
                None => sqlx::query(&self.sql.blocks.delete)
                    .bind(tenant.as_str())
                    .bind(blocker.as_str())
                    .bind(user.as_str()),
            };
            statement.execute(&mut *conn).await.map_err(db)?;
        }
        Ok((after, changed))
    }

    /// [`chat_core::store::ModerationStore::blocks`].
    pub(crate) async fn list_blocks(&self, caller: &Identity) -> ChatResult<Vec<Block>> {
        let rows = sqlx::query(&self.sql.blocks.list)
            .bind(caller.tenant.as_str())
            .bind(caller.user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(block_from_row).collect()
    }

    /// [`chat_core::store::ModerationStore::is_blocked`].
    pub(crate) async fn has_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> ChatResult<bool> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        Ok(self.read_block(&mut conn, tenant, blocker, blocked).await?.is_some())
    }
}
