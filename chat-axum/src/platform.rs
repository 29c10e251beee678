//! Platforms: several host platforms share one deployment, each known by a public key sent
//! as `X-PUBLIC-KEY` (the seed contract). [`PlatformKeys`] maps the keys to tenants.
//!
//! With keys configured ([`ChatApi::with_platform_keys`](crate::ChatApi::with_platform_keys)),
//! every request the router authenticates must carry a known key (401 naming the header
//! otherwise), and the tenant the host's [`Authenticator`](crate::Authenticator) returns must
//! be the key's tenant: a token of one platform used with another platform's key is a 401.
//! Browsers cannot set headers on a WebSocket, so the key may also come as the query
//! parameter `public_key`. Without keys, tenants come from the authenticator alone.

use std::collections::HashMap;

use axum::http::request::Parts;
use chat_core::{Identity, TenantId};

use crate::auth::upgrade_query_param;
use crate::error::ApiError;

/// The header naming the caller's platform.
pub const PUBLIC_KEY_HEADER: &str = "X-PUBLIC-KEY";

/// The query parameter that may carry the key instead on a WebSocket upgrade (browsers'
/// WebSockets cannot send headers); ignored on every other request.
pub const PUBLIC_KEY_QUERY_PARAM: &str = "public_key";

/// Public platform keys and the tenant each one names.
///
/// ```
/// use chat_axum::PlatformKeys;
/// use chat_core::TenantId;
///
/// # fn demo() -> Result<(), chat_core::ChatError> {
/// let keys = PlatformKeys::new()
///     .with_key("pk_shop_1", TenantId::new("shop")?)
///     .with_key("pk_rent_1", TenantId::new("rentals")?);
/// assert_eq!(keys.tenant_of("pk_rent_1").map(TenantId::as_str), Some("rentals"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct PlatformKeys {
    keys: HashMap<String, TenantId>,
}

impl PlatformKeys {
    /// No keys yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// With `public_key` naming `tenant` (several keys may name one tenant, e.g. while a key
    /// is rotated).
    pub fn with_key(mut self, public_key: impl Into<String>, tenant: TenantId) -> Self {
        self.keys.insert(public_key.into(), tenant);
        self
    }

    /// The tenant of `public_key`, if it is known.
    pub fn tenant_of(&self, public_key: &str) -> Option<&TenantId> {
        self.keys.get(public_key)
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The tenant named by the request's key (header first, then, on a WebSocket upgrade
    /// only, the query parameter), or 401 naming the header.
    pub fn tenant_of_request(&self, parts: &Parts) -> Result<&TenantId, ApiError> {
        let from_header = parts
            .headers
            .get(PUBLIC_KEY_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim().to_owned());
        let key = from_header
            .filter(|value| !value.is_empty())
            .or_else(|| upgrade_query_param(parts, PUBLIC_KEY_QUERY_PARAM))
            .ok_or(ApiError::UnknownPlatform)?;
        self.tenant_of(&key).ok_or(ApiError::UnknownPlatform)
    }

    /// Checks that `identity` (from the host's authenticator) belongs to the platform of the
    /// request's key: 401 otherwise.
    pub fn check(&self, parts: &Parts, identity: &Identity) -> Result<(), ApiError> {
        let tenant = self.tenant_of_request(parts)?;
        if *tenant == identity.tenant {
            Ok(())
        } else {
            Err(ApiError::Unauthenticated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use chat_core::UserId;

    fn parts(uri: &str, key: Option<&str>) -> Parts {
        let mut builder = Request::builder().uri(uri);
        if let Some(key) = key {
            builder = builder.header(PUBLIC_KEY_HEADER, key);
        }
        builder.body(()).expect("request").into_parts().0
    }

    #[test]
    fn keys_name_tenants_and_must_match_the_identity() {
        let shop = TenantId::new("shop").expect("tenant");
        let rent = TenantId::new("rent").expect("tenant");
        let keys = PlatformKeys::new()
            .with_key("pk-shop", shop.clone())
            .with_key("pk-rent", rent.clone());
        let ana = Identity::new(shop, UserId::new("ana").expect("user"));
        assert!(keys.check(&parts("/", Some("pk-shop")), &ana).is_ok());
        let upgrade = Request::builder()
            .uri("/ws?public_key=pk-shop")
            .header(axum::http::header::UPGRADE, "websocket")
            .body(())
            .expect("request")
            .into_parts()
            .0;
        assert!(keys.check(&upgrade, &ana).is_ok());
        assert!(
            matches!(
                keys.check(&parts("/ws?public_key=pk-shop", None), &ana),
                Err(ApiError::UnknownPlatform)
            ),
            "the query key counts only on a WebSocket upgrade"
        );
        assert!(matches!(
            keys.check(&parts("/", Some("pk-rent")), &ana),
            Err(ApiError::Unauthenticated)
        ));
        assert!(matches!(
            keys.check(&parts("/", None), &ana),
            Err(ApiError::UnknownPlatform)
        ));
        assert!(matches!(
            keys.check(&parts("/", Some("pk-nope")), &ana),
            Err(ApiError::UnknownPlatform)
        ));
    }
}
