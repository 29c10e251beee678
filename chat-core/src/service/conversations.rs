//! Conversation operations.

use crate::error::{ChatError, ChatResult};
use crate::events::EventPayload;
use crate::ids::{ConversationId, Identity, UserId};
use crate::model::{ConversationRecord, Metadata, Stats};
use crate::store::{ArchiveFilter, InboxQuery, NewDirect, NewGroup, ReadUpTo, SearchQuery};
use crate::tag::{Tag, TagFilter};
use crate::view::{ConversationView, Page};
use crate::{cursor, validate};

use super::ChatServices;

/// Input of [`ConversationService::start_direct`].
#[derive(Clone, Debug)]
pub struct StartDirect {
    /// The other user.
    pub counterpart: UserId,
    /// What the conversation is about; another tag gives another conversation.
    pub tag: Option<Tag>,
    /// Stored when the conversation is created.
    pub metadata: Metadata,
}

impl StartDirect {
    /// A direct conversation with `counterpart`, untagged.
    pub fn with(counterpart: UserId) -> Self {
        Self {
            counterpart,
            tag: None,
            metadata: Metadata::new(),
        }
    }

    /// About `tag`.
    pub fn tagged(mut self, tag: Tag) -> Self {
        self.tag = Some(tag);
        self
    }
}

/// Input of [`ConversationService::create_group`].
#[derive(Clone, Debug)]
pub struct NewGroupInput {
    /// The other members (the creator is added as owner; duplicates are ignored).
    pub participants: Vec<UserId>,
    /// The title.
    pub title: String,
    /// What the group is about.
    pub tag: Option<Tag>,
    /// Host-defined data.
    pub metadata: Metadata,
}

/// Filters and paging of [`ConversationService::inbox`].
#[derive(Clone, Debug, Default)]
pub struct InboxFilter {
    /// By the caller's archive flag (default: not archived).
    pub archive: ArchiveFilter,
    /// By tag.
    pub tag: Option<TagFilter>,
    /// Only conversations with unread messages.
    pub unread_only: bool,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size; [`crate::Limits::page_default`] when absent.
    pub limit: Option<usize>,
}

/// Starting, listing and changing conversations. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ConversationService {
    pub(super) ctx: ChatServices,
}

impl ConversationService {
    /// Finds or creates the direct conversation between the actor and the counterpart about
    /// the tag; `true` when created (then `conversation.created` goes to both).
    ///
    /// Errors: `PermissionDenied` (a neutral reason) when the conversation does not exist
    /// and the counterpart has blocked the actor; `Validation` on `participant_uuid` for
    /// oneself or a user the directory does not know, on `taggable_*` past the limits; `RateLimited` when the actor started
    /// [`crate::Limits::conversations_started_per_hour`] conversations in the last hour and
    /// this one does not exist yet (finding an existing one never counts).
    pub async fn start_direct(&self, actor: &Identity, input: StartDirect) -> ChatResult<(ConversationView, bool)> {
        let ctx = &self.ctx;
        if input.counterpart == actor.user {
            return Err(ChatError::invalid("participant_uuid", "must be another user"));
        }
        if let Some(tag) = &input.tag {
            validate::tag(&ctx.limits, tag)?;
        }
        validate::metadata(&ctx.limits, &input.metadata)?;
        self.require_known_users("participant_uuid", actor, std::slice::from_ref(&input.counterpart))
            .await?;
        let reservation = match ctx.start_limiter.take(ctx.limits.conversations_started_per_hour, actor) {
            Ok(reservation) => reservation,
            // At the limit, an existing conversation still opens: only new ones count.
            Err(limited) => match ctx
                .store
                .find_direct(actor, &input.counterpart, input.tag.as_ref())
                .await?
            {
                Some(record) => {
                    let view = ctx
                        .member_profiles(actor, &record)
                        .await?
                        .conversation(record, &actor.user);
                    return Ok((view, false));
                }
                None => return Err(limited),
            },
        };
        let new = NewDirect {
            counterpart: input.counterpart,
            tag: input.tag,
            metadata: input.metadata,
        };
        let found = ctx.store.find_or_create_direct(actor, new).await;
        if !matches!(found, Ok((_, true))) {
            ctx.start_limiter
                .give_back(ctx.limits.conversations_started_per_hour, actor, reservation);
        }
        let (record, created) = found?;
        let recipients = record.member_ids();
        let view = ctx
            .member_profiles(actor, &record)
            .await?
            .conversation(record, &actor.user);
        if created {
            tracing::debug!(conversation_id = %view.conversation.id, "direct conversation created");
            ctx.publish_conversation(actor, &view, recipients, EventPayload::ConversationCreated)
                .await;
        }
        Ok((view, created))
    }

    /// Creates a group owned by the actor; `conversation.created` goes to every member.
    ///
    /// Errors: `Validation` on `participant_uuids` (none, unknown users, too many) and `title`;
    /// `RateLimited` past [`crate::Limits::conversations_started_per_hour`].
    pub async fn create_group(&self, actor: &Identity, input: NewGroupInput) -> ChatResult<ConversationView> {
        let ctx = &self.ctx;
        let title = validate::title(&ctx.limits, &input.title)?;
        if let Some(tag) = &input.tag {
            validate::tag(&ctx.limits, tag)?;
        }
        validate::metadata(&ctx.limits, &input.metadata)?;
        let members = distinct_others(input.participants, &actor.user);
        if members.is_empty() {
            return Err(ChatError::invalid(
                "participant_uuids",
                "must name at least one other user",
            ));
        }
        if members.len() + 1 > ctx.limits.group_max_participants {
            return Err(ChatError::invalid(
                "participant_uuids",
                format!("a group has at most {} participants", ctx.limits.group_max_participants),
            ));
        }
        self.require_known_users("participant_uuids", actor, &members).await?;
        let reservation = ctx
            .start_limiter
            .take(ctx.limits.conversations_started_per_hour, actor)?;
        let new = NewGroup {
            members,
            title,
            tag: input.tag,
            metadata: input.metadata,
        };
        let created = ctx.store.create_group(actor, new).await;
        if created.is_err() {
            ctx.start_limiter
                .give_back(ctx.limits.conversations_started_per_hour, actor, reservation);
        }
        let record = created?;
        let recipients = record.member_ids();
        let view = ctx
            .member_profiles(actor, &record)
            .await?
            .conversation(record, &actor.user);
        ctx.publish_conversation(actor, &view, recipients, EventPayload::ConversationCreated)
            .await;
        Ok(view)
    }

    /// One conversation the actor is in.
    pub async fn get(&self, actor: &Identity, id: ConversationId) -> ChatResult<ConversationView> {
        let record = self.ctx.store.get_conversation(actor, id).await?;
        Ok(self
            .ctx
            .member_profiles(actor, &record)
            .await?
            .conversation(record, &actor.user))
    }

    /// A page of the actor's inbox, newest activity first.
    pub async fn inbox(&self, actor: &Identity, filter: InboxFilter) -> ChatResult<Page<ConversationView>> {
        let ctx = &self.ctx;
        let limit = validate::page_limit(&ctx.limits, filter.limit)?;
        if let Some(tag) = &filter.tag {
            validate::tag_filter(&ctx.limits, tag)?;
        }
        let after = filter.cursor.as_deref().map(cursor::decode).transpose()?;
        let query = InboxQuery {
            archive: filter.archive,
            tag: filter.tag,
            unread_only: filter.unread_only,
            after,
            limit: limit + 1,
        };
        let mut records = ctx.store.inbox_page(actor, query).await?;
        let next_cursor = if records.len() > limit {
            records.truncate(limit);
            records.last().map(|last| {
                cursor::encode(&crate::store::InboxCursor {
                    last_activity_at: last.conversation.last_activity_at,
                    id: last.conversation.id,
                })
            })
        } else {
            None
        };
        Ok(Page {
            items: ctx.conversation_views(actor, records).await?,
            next_cursor,
        })
    }

    /// The actor's conversations whose title contains `query` or whose other participants'
    /// names match it in the directory, in inbox order.
    pub async fn search(
        &self,
        actor: &Identity,
        query: &str,
        limit: Option<usize>,
    ) -> ChatResult<Vec<ConversationView>> {
        let ctx = &self.ctx;
        let query = query.trim();
        if query.chars().any(char::is_control) {
            return Err(ChatError::invalid("q", "must not contain control characters"));
        }
        if query.is_empty() || query.chars().count() > ctx.limits.search_query_max_chars {
            return Err(ChatError::invalid(
                "q",
                format!("must be 1 to {} characters", ctx.limits.search_query_max_chars),
            ));
        }
        let limit = validate::page_limit(&ctx.limits, limit)?;
        let participants = ctx.directory.search(&actor.tenant, query, ctx.limits.page_max).await?;
        let search = SearchQuery {
            title_contains: query.to_owned(),
            participants,
            limit,
        };
        let records = ctx.store.search(actor, search).await?;
        ctx.conversation_views(actor, records).await
    }

    /// Moves the actor's read watermark up to `up_to` (clamped to the newest) or to the
    /// newest message. When it moves, `conversation.read` goes to every participant and
    /// `conversation.updated` to the actor.
    pub async fn mark_read(
        &self,
        actor: &Identity,
        id: ConversationId,
        up_to: Option<u64>,
    ) -> ChatResult<ConversationView> {
        let ctx = &self.ctx;
        let up_to = up_to.map_or(ReadUpTo::Newest, ReadUpTo::Seq);
        let (record, moved) = ctx.store.mark_read(actor, id, up_to).await?;
        let recipients = record.member_ids();
        let view = ctx
            .member_profiles(actor, &record)
            .await?
            .conversation(record, &actor.user);
        if moved {
            if let Some(me) = view.me() {
                let receipt = EventPayload::ConversationRead {
                    user: actor.user.clone(),
                    seq: me.last_read_seq,
                    read_at: me.last_read_at.unwrap_or_else(crate::model::now),
                };
                ctx.publish(actor, id, recipients, receipt).await;
            }
            ctx.publish_conversation(
                actor,
                &view,
                vec![actor.user.clone()],
                EventPayload::ConversationUpdated,
            )
            .await;
        }
        Ok(view)
    }

    /// Archives the conversation for the actor only, until a new message arrives.
    pub async fn archive(&self, actor: &Identity, id: ConversationId) -> ChatResult<ConversationView> {
        self.set_archived(actor, id, true).await
    }

    /// Brings an archived conversation back to the actor's inbox.
    pub async fn unarchive(&self, actor: &Identity, id: ConversationId) -> ChatResult<ConversationView> {
        self.set_archived(actor, id, false).await
    }

    async fn set_archived(&self, actor: &Identity, id: ConversationId, archived: bool) -> ChatResult<ConversationView> {
        let ctx = &self.ctx;
        let record = ctx.store.set_archived(actor, id, archived).await?;
        self.updated_for_actor(actor, record).await
    }

    /// Mutes the conversation for the actor: its messages still count as unread, but the
    /// actor gets no notification of them until they unmute.
    pub async fn mute(&self, actor: &Identity, id: ConversationId) -> ChatResult<ConversationView> {
        self.set_muted(actor, id, true).await
    }

    /// Unmutes the conversation for the actor: later messages notify again.
    pub async fn unmute(&self, actor: &Identity, id: ConversationId) -> ChatResult<ConversationView> {
        self.set_muted(actor, id, false).await
    }

    async fn set_muted(&self, actor: &Identity, id: ConversationId, muted: bool) -> ChatResult<ConversationView> {
        let record = self.ctx.store.set_muted(actor, id, muted).await?;
        self.updated_for_actor(actor, record).await
    }

    /// Hides the current history from the actor (others keep theirs) and marks it read.
    pub async fn clear_history(&self, actor: &Identity, id: ConversationId) -> ChatResult<ConversationView> {
        let ctx = &self.ctx;
        let record = ctx.store.clear_history(actor, id).await?;
        self.updated_for_actor(actor, record).await
    }

    /// Adds users to a group the actor is in. New members get `conversation.created`, the
    /// others `conversation.updated`. A call that adds anyone counts toward
    /// [`crate::Limits::conversations_started_per_hour`]: `RateLimited` past it.
    pub async fn add_participants(
        &self,
        actor: &Identity,
        id: ConversationId,
        users: Vec<UserId>,
    ) -> ChatResult<ConversationView> {
        let ctx = &self.ctx;
        let users = distinct_others(users, &actor.user);
        if users.is_empty() {
            return Err(ChatError::invalid(
                "participant_uuids",
                "must name at least one other user",
            ));
        }
        self.require_known_users("participant_uuids", actor, &users).await?;
        // Adding people counts toward the hourly start limit, so membership churn aimed at
        // someone is bounded; a call that adds nobody gives its token back.
        let reservation = ctx
            .start_limiter
            .take(ctx.limits.conversations_started_per_hour, actor)?;
        let stored = ctx
            .store
            .add_participants(actor, id, users, ctx.limits.group_max_participants)
            .await;
        if stored.as_ref().map_or(true, |(_, added)| added.is_empty()) {
            ctx.start_limiter
                .give_back(ctx.limits.conversations_started_per_hour, actor, reservation);
        }
        let (record, added) = stored?;
        let existing: Vec<UserId> = record
            .member_ids()
            .into_iter()
            .filter(|user| !added.contains(user))
            .collect();
        let view = ctx
            .member_profiles(actor, &record)
            .await?
            .conversation(record, &actor.user);
        if !added.is_empty() {
            ctx.publish_conversation(actor, &view, added, EventPayload::ConversationCreated)
                .await;
            ctx.publish_conversation(actor, &view, existing, EventPayload::ConversationUpdated)
                .await;
        }
        Ok(view)
    }

    /// Removes `user` from a group (the owner removes others; anyone removes themselves).
    /// `conversation.updated` goes to the remaining members and to the removed user.
    pub async fn remove_participant(
        &self,
        actor: &Identity,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationView> {
        let ctx = &self.ctx;
        let record = ctx.store.remove_participant(actor, id, user).await?;
        let mut recipients = record.member_ids();
        recipients.push(user.clone());
        let view = ctx
            .member_profiles(actor, &record)
            .await?
            .conversation(record, &actor.user);
        ctx.publish_conversation(actor, &view, recipients, EventPayload::ConversationUpdated)
            .await;
        Ok(view)
    }

    /// The actor leaves a group.
    pub async fn leave(&self, actor: &Identity, id: ConversationId) -> ChatResult<ConversationView> {
        self.remove_participant(actor, id, &actor.user.clone()).await
    }

    /// The actor's totals.
    pub async fn stats(&self, actor: &Identity) -> ChatResult<Stats> {
        self.ctx.store.stats(actor).await
    }

    /// The actor's view of `record`, also sent to the actor alone as `conversation.updated`
    /// (a change only the actor sees: archive, clear).
    async fn updated_for_actor(&self, actor: &Identity, record: ConversationRecord) -> ChatResult<ConversationView> {
        let ctx = &self.ctx;
        let view = ctx
            .member_profiles(actor, &record)
            .await?
            .conversation(record, &actor.user);
        ctx.publish_conversation(
            actor,
            &view,
            vec![actor.user.clone()],
            EventPayload::ConversationUpdated,
        )
        .await;
        Ok(view)
    }

    /// A validation error on `field` naming every user the directory does not know.
    async fn require_known_users(&self, field: &str, actor: &Identity, users: &[UserId]) -> ChatResult<()> {
        let known = self.ctx.directory.profiles(&actor.tenant, users).await?;
        let unknown: Vec<&str> = users
            .iter()
            .filter(|user| !known.contains_key(*user))
            .map(UserId::as_str)
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ChatError::invalid(
                field,
                format!("unknown user: {}", unknown.join(", ")),
            ))
        }
    }
}

/// `users` without duplicates and without `me`, in first-seen order.
fn distinct_others(users: Vec<UserId>, me: &UserId) -> Vec<UserId> {
    let mut seen = std::collections::HashSet::new();
    users
        .into_iter()
        .filter(|user| user != me && seen.insert(user.clone()))
        .collect()
}
