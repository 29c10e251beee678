//! Channel names: one per (tenant, user), `<prefix>:<tenant length>:<tenant>:<user>`.
//!
//! Tenant and user ids may hold `:`; the tenant's byte length makes the name unambiguous,
//! so a name parses back into exactly one (tenant, user).

use chat_core::{TenantId, UserId};

/// The channel of `user` of `tenant` under `prefix`.
pub(crate) fn name(prefix: &str, tenant: &TenantId, user: &UserId) -> String {
    let tenant = tenant.as_str();
    let user = user.as_str();
    format!("{prefix}:{}:{tenant}:{user}", tenant.len())
}

/// The (tenant, user) of a channel name made by [`name`] with `prefix`.
pub(crate) fn parse(prefix: &str, channel: &str) -> Option<(TenantId, UserId)> {
    let rest = channel.strip_prefix(prefix)?.strip_prefix(':')?;
    let (length, rest) = rest.split_once(':')?;
    let length: usize = length.parse().ok()?;
    let tenant = rest.get(..length)?;
    let user = rest.get(length..)?.strip_prefix(':')?;
    Some((TenantId::new(tenant).ok()?, UserId::new(user).ok()?))
}

/// Whether `prefix` is usable: 1..=64 bytes, no whitespace or control characters.
pub(crate) fn valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty() && prefix.len() <= 64 && !prefix.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_even_with_colons_in_the_ids() {
        let cases = [("default", "u1"), ("a:b", "c"), ("a", "b:c"), ("x", "y:z:w")];
        for (tenant, user) in cases {
            let (tenant, user) = (TenantId::new(tenant).expect("tenant"), UserId::new(user).expect("user"));
            let channel = name("chat", &tenant, &user);
            assert_eq!(parse("chat", &channel), Some((tenant, user)));
            assert_eq!(parse("other", &channel), None);
        }
        assert_ne!(
            name("p", &TenantId::new("a:b").expect("t"), &UserId::new("c").expect("u")),
            name("p", &TenantId::new("a").expect("t"), &UserId::new("b:c").expect("u"))
        );
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(valid_prefix("chat"));
        assert!(valid_prefix("shop-prod:chat"));
        assert!(!valid_prefix(""));
        assert!(!valid_prefix("a b"));
        assert!(!valid_prefix(&"x".repeat(65)));
    }
}
