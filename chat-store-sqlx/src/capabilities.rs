//! PgStore's capability traits (moderation, attachments, outbox, erasure): each method is
//! the operation written in its own file (`blocks.rs`, `reports.rs`, `attachments.rs`,
//! `notifications.rs`, `erase.rs`); the core trait is in `operations.rs`.

use async_trait::async_trait;
use chat_core::backend::{
    AttachmentStore, ErasedBatch, ErasureStore, ModerationStore, NewReport, OutboxStore, Reported,
};
use chat_core::{
    Attachment, AttachmentId, Block, ChatResult, ConversationId, Identity, Report, TenantId, UploadedFile, UserId,
};
use chrono::{DateTime, Utc};

use crate::store::PgStore;

#[async_trait]
impl ModerationStore for PgStore {
    async fn set_block(&self, caller: &Identity, user: &UserId, block: bool) -> ChatResult<(Option<Block>, bool)> {
        PgStore::set_block(self, caller, user, block).await
    }

    async fn blocks(&self, caller: &Identity) -> ChatResult<Vec<Block>> {
        self.list_blocks(caller).await
    }

    async fn is_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> ChatResult<bool> {
        self.has_blocked(tenant, blocker, blocked).await
    }

    async fn report_message(&self, caller: &Identity, new: NewReport) -> ChatResult<Reported> {
        PgStore::report_message(self, caller, new).await
    }

    async fn reports_by(&self, caller: &Identity) -> ChatResult<Vec<Report>> {
        self.list_reports(caller).await
    }
}

#[async_trait]
impl AttachmentStore for PgStore {
    async fn begin_upload(&self, caller: &Identity, id: ConversationId, name: &str) -> ChatResult<Attachment> {
        self.begin_upload_record(caller, id, name).await
    }

    async fn finish_upload(
        &self,
        caller: &Identity,
        attachment: AttachmentId,
        uploaded: UploadedFile,
    ) -> ChatResult<Attachment> {
        self.finish_upload_record(caller, attachment, uploaded).await
    }

    async fn abandon_upload(&self, caller: &Identity, attachment: AttachmentId) -> ChatResult<()> {
        self.abandon_upload_record(caller, attachment).await
    }

    async fn attachment(
        &self,
        caller: &Identity,
        id: ConversationId,
        attachment: AttachmentId,
    ) -> ChatResult<Attachment> {
        self.readable_attachment(caller, id, attachment).await
    }

    async fn discard_stale_attachments(
        &self,
        tenant: Option<&TenantId>,
        unsent_before: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<Attachment>> {
        self.discard_stale(tenant, unsent_before, limit).await
    }

    async fn forget_attachments(&self, attachments: &[AttachmentId]) -> ChatResult<()> {
        self.forget(attachments).await
    }
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn claim_notifications(
        &self,
        tenant: Option<&TenantId>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<chat_core::backend::DueNotification>> {
        self.claim_due(tenant, now, lease_until, limit).await
    }

    async fn settle_notifications(&self, settled: &[chat_core::backend::SettledNotification]) -> ChatResult<()> {
        self.settle(settled).await
    }
}

#[async_trait]
impl ErasureStore for PgStore {
    async fn erase_messages(
        &self,
        caller: &Identity,
        id: ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> ChatResult<ErasedBatch> {
        PgStore::erase_messages(self, caller, id, after_seq, limit).await
    }

    async fn erase_user_records(&self, caller: &Identity) -> ChatResult<()> {
        PgStore::erase_user_records(self, caller).await
    }
}
