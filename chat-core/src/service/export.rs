//! Export (the user's right to their data): everything of one user's that the chat keeps,
//! conversation by conversation, so a caller can stream it ([`ExportService`]) or the host
//! can collect it for its own data-request flow ([`ChatServices::export_user`]).
//!
//! An export holds the user's conversations (as they see them, with every participant's
//! public profile and the user's own state: read watermark, archive flag, cleared seq), the
//! messages they sent that they can still see, with their attachment records, their
//! reactions, the users they blocked and their reports. Nothing of anyone else beyond the public profile: no other user's message,
//! preview, read state or private field.

use std::collections::BTreeSet;

use crate::directory::Profile;
use crate::error::ChatResult;
use crate::ids::{ConversationId, Identity, MessageId};
use crate::model::{Conversation, Message, Participant};
use crate::store::{ArchiveFilter, HistoryQuery, InboxCursor, InboxQuery};

use super::ChatServices;

/// Rows read per store call while exporting.
const EXPORT_PAGE: usize = 200;

/// One reaction the user holds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportedReaction {
    /// The message it is on (anyone's).
    pub message: MessageId,
    /// That message's seq.
    pub seq: u64,
    /// The emoji.
    pub emoji: String,
}

/// One conversation of an export: only what is the user's, or public.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExportedConversation {
    /// The conversation's own fields, without its last-message preview (which may be
    /// someone else's words).
    pub conversation: Conversation,
    /// The user's own membership (watermarks, archive flag, cleared seq).
    pub me: Participant,
    /// Every participant's public profile, in joined order.
    pub participants: Vec<Profile>,
    /// The messages the user sent, oldest first (deleted ones keep their seq, not their
    /// body), each with only the user's own reactions.
    pub messages: Vec<Message>,
    /// The user's reactions in it, on anyone's messages, oldest message first.
    pub reactions: Vec<ExportedReaction>,
}

/// A whole export ([`ChatServices::export_user`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UserExport {
    /// Whose.
    pub user: Identity,
    /// The users they blocked, by user id.
    pub blocks: Vec<super::BlockView>,
    /// Their reports of others' messages, by message id.
    pub reports: Vec<crate::model::Report>,
    /// Their conversations, newest activity first.
    pub conversations: Vec<ExportedConversation>,
}

/// Reading one user's data out ([`ChatServices::export`]). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ExportService {
    pub(super) ctx: ChatServices,
}

impl ExportService {
    /// Every conversation `user` is in, archived ones too, newest activity first. The inbox
    /// is walked again from the top until a walk finds nothing new (at most three times), so
    /// a conversation that moved above the cursor with a new message is not left out.
    pub async fn conversation_ids(&self, user: &Identity) -> ChatResult<Vec<ConversationId>> {
        let mut ids = Vec::new();
        let mut seen = BTreeSet::new();
        for _ in 0..3 {
            let before = ids.len();
            for id in self.walk_inbox(user).await? {
                if seen.insert(id) {
                    ids.push(id);
                }
            }
            if ids.len() == before {
                break;
            }
        }
        Ok(ids)
    }

    /// One walk of `user`'s whole inbox.
    async fn walk_inbox(&self, user: &Identity) -> ChatResult<Vec<ConversationId>> {
        let mut ids = Vec::new();
        let mut after: Option<InboxCursor> = None;
        loop {
            let query = InboxQuery {
                archive: ArchiveFilter::All,
                tag: None,
                unread_only: false,
                after,
                limit: EXPORT_PAGE,
            };
            let page = self.ctx.store.inbox_page(user, query).await?;
            let full = page.len() == EXPORT_PAGE;
            after = page.last().map(|record| InboxCursor {
                last_activity_at: record.conversation.last_activity_at,
                id: record.conversation.id,
            });
            ids.extend(page.iter().map(|record| record.conversation.id));
            if !full {
                return Ok(ids);
            }
        }
    }

    /// `user`'s part of conversation `id` (a `NotFound` when they are not in it), read in
    /// pages of 200 messages.
    pub async fn conversation(&self, user: &Identity, id: ConversationId) -> ChatResult<ExportedConversation> {
        let ctx = &self.ctx;
        let mut messages = Vec::new();
        let mut reactions = Vec::new();
        let mut after = 0;
        let record = loop {
            let query = HistoryQuery {
                before: None,
                after: Some(after),
                limit: EXPORT_PAGE,
            };
            let page = ctx.store.history_page(user, id, query).await?;
            let full = page.messages.len() == EXPORT_PAGE;
            after = page.messages.last().map_or(after, |message| message.seq);
            for mut message in page.messages {
                reactions.extend(
                    message
                        .reactions
                        .iter()
                        .filter(|reaction| reaction.users.contains(&user.user))
                        .map(|reaction| ExportedReaction {
                            message: message.id,
                            seq: message.seq,
                            emoji: reaction.emoji.clone(),
                        }),
                );
                if message.sender.as_ref() == Some(&user.user) {
                    // Who else reacted is theirs, not the user's.
                    message.reactions.retain_mut(|reaction| {
                        reaction.users.retain(|holder| holder == &user.user);
                        !reaction.users.is_empty()
                    });
                    messages.push(message);
                }
            }
            if !full {
                break page.record;
            }
        };
        let profiles = ctx.profiles(user, record.member_ids()).await?;
        let me = record
            .participant(&user.user)
            .cloned()
            .ok_or_else(crate::ChatError::conversation_not_found)?;
        let participants = record
            .participants
            .iter()
            .map(|participant| profiles.of(&participant.user))
            .collect();
        let mut conversation = record.conversation;
        conversation.last_message = None;
        Ok(ExportedConversation {
            conversation,
            me,
            participants,
            messages,
            reactions,
        })
    }
}

impl ChatServices {
    /// Reading one user's data out, conversation by conversation (for a streamed export).
    pub fn export(&self) -> ExportService {
        ExportService { ctx: self.clone() }
    }

    /// Everything of `user`'s that the chat keeps, in memory (for the host's own
    /// data-request flow; the HTTP route streams it instead). A conversation the user
    /// leaves while the export runs is skipped.
    pub async fn export_user(&self, user: &Identity) -> ChatResult<UserExport> {
        let export = self.export();
        let mut conversations = Vec::new();
        for id in export.conversation_ids(user).await? {
            match export.conversation(user, id).await {
                Ok(conversation) => conversations.push(conversation),
                Err(crate::ChatError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(UserExport {
            user: user.clone(),
            blocks: self.blocks().list(user).await?,
            reports: self.reports().list(user).await?,
            conversations,
        })
    }
}
