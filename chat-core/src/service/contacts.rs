//! Contacts: the host's users the caller may start a conversation with, from the host's
//! [`UserDirectory::search`](crate::UserDirectory::search).

use crate::directory::Profile;
use crate::error::{ChatError, ChatResult};
use crate::ids::Identity;
use crate::service::ChatServices;
use crate::validate;

/// Looks up contacts in the host's directory; see [`ChatServices::contacts`].
#[derive(Clone, Debug)]
pub struct ContactService {
    pub(super) ctx: ChatServices,
}

impl ContactService {
    /// Public profiles of the actor's tenant whose name matches `query` (empty: anyone, as
    /// the host's [`UserDirectory::search`](crate::UserDirectory::search) decides), at most
    /// `limit` (default and maximum: the page limits), in the directory's order. Never the
    /// actor; only what the host put in each [`Profile`].
    pub async fn search(&self, actor: &Identity, query: &str, limit: Option<usize>) -> ChatResult<Vec<Profile>> {
        let ctx = &self.ctx;
        if query.chars().any(char::is_control) {
            return Err(ChatError::invalid("q", "must not contain control characters"));
        }
        if query.chars().count() > ctx.limits.search_query_max_chars {
            return Err(ChatError::invalid(
                "q",
                format!("must be at most {} characters", ctx.limits.search_query_max_chars),
            ));
        }
        let query = query.trim();
        let limit = validate::page_limit(&ctx.limits, limit)?;
        // One more than asked, in case the actor is among the matches.
        let mut users = ctx.directory.search(&actor.tenant, query, limit + 1).await?;
        users.retain(|user| *user != actor.user);
        users.dedup();
        users.truncate(limit);
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut profiles = ctx.directory.profiles(&actor.tenant, &users).await?;
        // Users the directory found but has no profile for are left out.
        Ok(users.iter().filter_map(|user| profiles.remove(user)).collect())
    }
}
