//! The demo host around the chat: users, orders, avatars and a toy login. A real host has
//! all of this already; it only implements `UserDirectory` and `Authenticator` over it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chat_core::{Identity, InMemoryDirectory, Profile, TenantId, UserId};
use serde::Serialize;

/// A platform of the deployment: its own tenant, users and public key (`X-PUBLIC-KEY`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Platform {
    /// The public key clients send as `X-PUBLIC-KEY` (not a secret: it names the platform).
    pub key: &'static str,
    /// The platform's name, shown on the page.
    pub name: &'static str,
    /// Its tenant in the chat.
    #[serde(skip)]
    pub tenant: &'static str,
}

/// The marketplace platform's key.
pub const MARKET_KEY: &str = "pk_marketplace_demo";
/// The rentals platform's key.
pub const RENTALS_KEY: &str = "pk_rentals_demo";

/// The two platforms this deployment serves; their users never see each other.
pub const PLATFORMS: &[Platform] = &[
    Platform {
        key: MARKET_KEY,
        name: "Marketplace",
        tenant: "marketplace",
    },
    Platform {
        key: RENTALS_KEY,
        name: "Rentals",
        tenant: "rentals",
    },
];

/// The platform of a key.
pub fn platform(key: &str) -> Option<&'static Platform> {
    PLATFORMS.iter().find(|platform| platform.key == key)
}

/// The chat's platform keys: each key names its platform's tenant.
pub fn platform_keys() -> chat_axum::PlatformKeys {
    PLATFORMS.iter().fold(chat_axum::PlatformKeys::new(), |keys, platform| {
        match TenantId::new(platform.tenant) {
            Ok(tenant) => keys.with_key(platform.key, tenant),
            Err(_) => keys,
        }
    })
}

/// A demo user of the marketplace.
#[derive(Clone, Debug, Serialize)]
pub struct DemoUser {
    /// Stable id, also the chat's user id.
    pub id: &'static str,
    /// Display name (some with accents, to show text round-trips).
    pub name: &'static str,
    /// `buyer` or `seller` (marketplace), `guest` or `host` (rentals).
    pub role: &'static str,
    /// The key of the user's platform.
    pub platform_key: &'static str,
    /// Avatar colour.
    #[serde(skip)]
    pub colour: &'static str,
}

/// A demo order: what a buyer contacts a seller about.
#[derive(Clone, Debug, Serialize)]
pub struct DemoOrder {
    /// The order number, sent as a JSON integer `taggable_id`.
    pub id: i64,
    /// What was ordered.
    pub title: &'static str,
    /// The buyer.
    pub buyer_id: &'static str,
    /// The seller.
    pub seller_id: &'static str,
    /// The seller's name, for the page.
    pub seller_name: &'static str,
}

/// The demo's users.
pub const USERS: &[DemoUser] = &[
    DemoUser {
        id: "buyer-ana",
        platform_key: MARKET_KEY,
        name: "Ana Souza",
        role: "buyer",
        colour: "#3f7fd9",
    },
    DemoUser {
        id: "buyer-jose",
        platform_key: MARKET_KEY,
        name: "José Núñez",
        role: "buyer",
        colour: "#2f9e6e",
    },
    DemoUser {
        id: "buyer-zoe",
        platform_key: MARKET_KEY,
        name: "Zoë Müller",
        role: "buyer",
        colour: "#8a55c9",
    },
    DemoUser {
        id: "seller-ines",
        platform_key: MARKET_KEY,
        name: "Inés Ramírez",
        role: "seller",
        colour: "#d9663f",
    },
    DemoUser {
        id: "seller-renee",
        platform_key: MARKET_KEY,
        name: "Renée Côté",
        role: "seller",
        colour: "#c9a227",
    },
    DemoUser {
        id: "guest-tomas",
        platform_key: RENTALS_KEY,
        name: "Tomás Ortega",
        role: "guest",
        colour: "#1f8a9e",
    },
    DemoUser {
        id: "host-lucia",
        platform_key: RENTALS_KEY,
        name: "Lucía Fernández",
        role: "host",
        colour: "#b0467a",
    },
];

/// The demo's orders.
pub const ORDERS: &[DemoOrder] = &[
    DemoOrder {
        id: 1001,
        title: "Handmade ceramic mug",
        buyer_id: "buyer-ana",
        seller_id: "seller-ines",
        seller_name: "Inés Ramírez",
    },
    DemoOrder {
        id: 1002,
        title: "Vintage record player",
        buyer_id: "buyer-ana",
        seller_id: "seller-renee",
        seller_name: "Renée Côté",
    },
    DemoOrder {
        id: 1003,
        title: "Wool scarf",
        buyer_id: "buyer-jose",
        seller_id: "seller-ines",
        seller_name: "Inés Ramírez",
    },
    DemoOrder {
        id: 1004,
        title: "Oak bookshelf",
        buyer_id: "buyer-zoe",
        seller_id: "seller-renee",
        seller_name: "Renée Côté",
    },
    DemoOrder {
        id: 2001,
        title: "Cabin by the lake, 3 nights",
        buyer_id: "guest-tomas",
        seller_id: "host-lucia",
        seller_name: "Lucía Fernández",
    },
];

/// The profile URL of a demo user's avatar.
pub fn avatar_url(user_id: &str) -> String {
    format!("/demo/avatars/{user_id}.svg")
}

/// The chat identity of a demo user: its platform's tenant and its id.
pub fn identity_of(user: &DemoUser) -> Option<Identity> {
    let tenant = TenantId::new(platform(user.platform_key)?.tenant).ok()?;
    Some(Identity::new(tenant, UserId::new(user.id).ok()?))
}

/// A directory over the demo users, each in its platform's tenant.
pub fn directory() -> InMemoryDirectory {
    USERS
        .iter()
        .fold(InMemoryDirectory::new(), |directory, user| match identity_of(user) {
            Some(Identity { tenant, user: id, .. }) => directory.with_profile(
                &tenant,
                Profile::new(id, user.name).with_avatar_url(avatar_url(user.id)),
            ),
            None => directory,
        })
}

/// Orders the user bought or sold.
pub fn orders_of(user_id: &str) -> Vec<DemoOrder> {
    ORDERS
        .iter()
        .filter(|order| order.buyer_id == user_id || order.seller_id == user_id)
        .cloned()
        .collect()
}

/// An SVG avatar with the user's initials (no external images needed); `group` and
/// `unknown` (the page's fallback for a profile without a photo) are generic ones.
pub fn avatar_svg(user_id: &str) -> Option<String> {
    let (initials, colour) = if user_id == "group" {
        ("#".to_owned(), "#5b6575")
    } else if user_id == "unknown" {
        ("?".to_owned(), "#8a93a3")
    } else {
        let user = USERS.iter().find(|user| user.id == user_id)?;
        let initials: String = user
            .name
            .split_whitespace()
            .filter_map(|word| word.chars().next())
            .take(2)
            .collect();
        (initials, user.colour)
    };
    Some(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="80" height="80" viewBox="0 0 80 80"><circle cx="40" cy="40" r="40" fill="{colour}"/><text x="40" y="52" font-family="sans-serif" font-size="32" font-weight="bold" fill="#fff" text-anchor="middle">{initials}</text></svg>"##
    ))
}

/// How long a demo token is good for.
pub const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// Live demo tokens at most: past it, the oldest go first (memory stays bounded whatever
/// the number of logins).
pub const MAX_TOKENS: usize = 10_000;

/// Logins per client address per minute; past it, 429 until the minute is over.
pub const LOGINS_PER_MINUTE: u32 = 120;

/// Demo login: a random token per login, kept in memory for [`TOKEN_TTL`], at most
/// [`MAX_TOKENS`] of them, and at most [`LOGINS_PER_MINUTE`] logins per client address. Not
/// authentication; a real host verifies its own sessions or JWTs in its `Authenticator`.
#[derive(Clone, Default)]
pub struct DemoTokens {
    inner: Arc<Mutex<Issued>>,
}

/// The tokens, oldest first, and the login counts of the current minute per address.
#[derive(Default)]
struct Issued {
    tokens: HashMap<String, (Identity, Instant)>,
    order: VecDeque<String>,
    logins: HashMap<IpAddr, (Instant, u32)>,
}

/// Why a demo login was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginRefused {
    /// Not a demo user.
    UnknownUser,
    /// Past [`LOGINS_PER_MINUTE`] from this address: try again after this long.
    TooMany(Duration),
}

/// What a demo login hands out.
#[derive(Clone, Debug, Serialize)]
pub struct DemoLogin {
    /// The bearer token.
    pub token: String,
    /// The user's platform key, for `X-PUBLIC-KEY`.
    pub platform_key: &'static str,
}

impl DemoTokens {
    /// Issues a token for a demo user logging in from `client` (`None`: unknown, not
    /// limited).
    pub fn login(&self, user_id: &str, client: Option<IpAddr>) -> Result<DemoLogin, LoginRefused> {
        self.login_at(user_id, client, Instant::now())
    }

    fn login_at(&self, user_id: &str, client: Option<IpAddr>, now: Instant) -> Result<DemoLogin, LoginRefused> {
        let mut issued = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = client {
            if issued.logins.len() > MAX_TOKENS {
                issued
                    .logins
                    .retain(|_, (since, _)| now.duration_since(*since) < Duration::from_secs(60));
            }
            let (since, count) = issued.logins.entry(client).or_insert((now, 0));
            if now.duration_since(*since) >= Duration::from_secs(60) {
                (*since, *count) = (now, 0);
            }
            if *count >= LOGINS_PER_MINUTE {
                let retry = Duration::from_secs(60).saturating_sub(now.duration_since(*since));
                return Err(LoginRefused::TooMany(retry.max(Duration::from_secs(1))));
            }
            *count += 1;
        }
        let user = USERS
            .iter()
            .find(|user| user.id == user_id)
            .ok_or(LoginRefused::UnknownUser)?;
        let identity = identity_of(user).ok_or(LoginRefused::UnknownUser)?;
        let token = format!("demo-{}", uuid::Uuid::now_v7().simple());
        while issued.order.len() >= MAX_TOKENS {
            if let Some(oldest) = issued.order.pop_front() {
                issued.tokens.remove(&oldest);
            }
        }
        issued.tokens.insert(token.clone(), (identity, now));
        issued.order.push_back(token.clone());
        Ok(DemoLogin {
            token,
            platform_key: user.platform_key,
        })
    }

    /// The identity (platform tenant and user) a live token was issued to.
    pub fn user_of(&self, token: &str) -> Option<Identity> {
        self.user_at(token, Instant::now())
    }

    fn user_at(&self, token: &str, now: Instant) -> Option<Identity> {
        let issued = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        issued
            .tokens
            .get(token)
            .filter(|(_, at)| now.duration_since(*at) < TOKEN_TTL)
            .map(|(identity, _)| identity.clone())
    }

    /// How many tokens are kept.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).tokens.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "buyer-ana";

    #[test]
    fn tokens_expire_after_their_time() {
        let tokens = DemoTokens::default();
        let start = Instant::now();
        let login = tokens.login_at(USER, None, start).expect("login");
        assert!(
            tokens
                .user_at(&login.token, start + TOKEN_TTL - Duration::from_secs(1))
                .is_some()
        );
        assert!(tokens.user_at(&login.token, start + TOKEN_TTL).is_none());
    }

    /// Issue 32, item 9: 30,000 logins keep at most MAX_TOKENS tokens; the newest still work.
    #[test]
    fn the_number_of_tokens_is_bounded() {
        let tokens = DemoTokens::default();
        let now = Instant::now();
        let mut last = None;
        for _ in 0..30_000 {
            last = Some(tokens.login_at(USER, None, now).expect("login"));
        }
        assert_eq!(tokens.len(), MAX_TOKENS);
        assert!(tokens.user_at(&last.expect("a login").token, now).is_some());
    }

    #[test]
    fn logins_are_limited_per_address_per_minute() {
        let tokens = DemoTokens::default();
        let now = Instant::now();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().expect("ip"), "192.0.2.2".parse().expect("ip"));
        for _ in 0..LOGINS_PER_MINUTE {
            tokens.login_at(USER, Some(a), now).expect("within the limit");
        }
        assert!(matches!(
            tokens.login_at(USER, Some(a), now + Duration::from_secs(30)),
            Err(LoginRefused::TooMany(retry)) if retry == Duration::from_secs(30)
        ));
        tokens
            .login_at(USER, Some(b), now)
            .expect("another address has its own");
        tokens
            .login_at(USER, Some(a), now + Duration::from_secs(60))
            .expect("a new minute");
        assert_eq!(
            tokens.login_at("nobody", Some(b), now).err(),
            Some(LoginRefused::UnknownUser)
        );
    }
}
