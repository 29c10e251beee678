//! The host's user directory: public profiles and name search.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::ChatResult;
use crate::ids::{TenantId, UserId};

/// A user's public profile, as the host chooses to show it to other users.
///
/// Only what the host puts here is ever shown; keep private fields (email, phone) out
/// unless they are meant to be public.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The user.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Photo URL.
    pub avatar_url: Option<String>,
    /// Further public fields the host wants shown.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Profile {
    /// A profile with a name and no photo.
    pub fn new(id: UserId, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            avatar_url: None,
            extra: serde_json::Map::new(),
        }
    }

    /// With a photo URL.
    pub fn with_avatar_url(mut self, url: impl Into<String>) -> Self {
        self.avatar_url = Some(url.into());
        self
    }

    /// The stand-in shown for a participant the directory no longer knows.
    pub fn unknown(id: UserId) -> Self {
        Self::new(id, "Unknown user")
    }
}

/// The host's users. Implemented by the host over its own user table.
#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// Profiles of the given users in one batch. Users the host does not know are simply
    /// absent from the map; the services turn that into a validation error where it matters.
    async fn profiles(&self, tenant: &TenantId, users: &[UserId]) -> ChatResult<HashMap<UserId, Profile>>;

    /// Users whose name matches `query` (the host decides how), at most `limit`.
    async fn search(&self, tenant: &TenantId, query: &str, limit: usize) -> ChatResult<Vec<UserId>>;
}

/// A fixed directory held in memory: for tests, demos and hosts with a small static user set.
/// Name search is a substring match folding case and accents
/// ([`crate::rules::search_fold`]: `ines` finds `Inés`).
#[derive(Clone, Debug, Default)]
pub struct InMemoryDirectory {
    users: HashMap<(TenantId, UserId), Profile>,
}

impl InMemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a profile in `tenant`.
    pub fn with_profile(mut self, tenant: &TenantId, profile: Profile) -> Self {
        self.users.insert((tenant.clone(), profile.id.clone()), profile);
        self
    }
}

#[async_trait]
impl UserDirectory for InMemoryDirectory {
    async fn profiles(&self, tenant: &TenantId, users: &[UserId]) -> ChatResult<HashMap<UserId, Profile>> {
        Ok(users
            .iter()
            .filter_map(|user| {
                self.users
                    .get(&(tenant.clone(), user.clone()))
                    .map(|profile| (user.clone(), profile.clone()))
            })
            .collect())
    }

    async fn search(&self, tenant: &TenantId, query: &str, limit: usize) -> ChatResult<Vec<UserId>> {
        let needle = crate::rules::search_fold(query);
        let mut found: Vec<UserId> = self
            .users
            .iter()
            .filter(|((user_tenant, _), profile)| {
                user_tenant == tenant && crate::rules::search_fold(&profile.name).contains(&needle)
            })
            .map(|((_, user), _)| user.clone())
            .collect();
        found.sort();
        found.truncate(limit);
        Ok(found)
    }
}
