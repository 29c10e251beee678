//! Identifiers: host-supplied tenant and user ids (validated strings) and our own
//! time-ordered UUID v7 ids for conversations and messages.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::error::ChatError;

/// The longest host id (tenant or user) accepted, in bytes.
pub const MAX_HOST_ID_BYTES: usize = 128;

/// Checks a host id: 1..=128 bytes, no control characters.
fn check_host_id(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("must not be empty");
    }
    if value.len() > MAX_HOST_ID_BYTES {
        return Err("must be at most 128 bytes");
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

macro_rules! host_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        ///
        /// Guaranteed non-empty, at most 128 bytes, without control characters.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates `value`; a bad id is a [`ChatError::Validation`] naming the field.
            pub fn new(value: impl Into<String>) -> Result<Self, ChatError> {
                let value = value.into();
                check_host_id(&value).map_err(|message| ChatError::invalid($field, message))?;
                Ok(Self(value))
            }

            /// The id as the host gave it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = ChatError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                check_host_id(&value).map_err(serde::de::Error::custom)?;
                Ok(Self(value))
            }
        }
    };
}

host_id!(
    /// A tenant of the host application. Tenants never see each other's data.
    TenantId,
    "tenant"
);
host_id!(
    /// A user of the host application, as its own directory names them.
    UserId,
    "user"
);

impl Default for TenantId {
    /// The tenant a single-tenant host uses: `"default"`.
    fn default() -> Self {
        Self("default".to_owned())
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (UUID v7) id.
            pub fn new_v7() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (as read back from a store).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// A conversation, UUID v7.
    ConversationId
);
uuid_id!(
    /// A message, UUID v7. History is ordered by `seq`, never by this id.
    MessageId
);
uuid_id!(
    /// An uploaded attachment, UUID v7.
    AttachmentId
);
uuid_id!(
    /// A pending notification: a UUID v5 of its conversation, recipient and first unread seq
    /// ([`NotificationId::of`]), so every node, retry and restart names it alike and a
    /// notifier can deduplicate on it.
    NotificationId
);

impl NotificationId {
    /// The id of the notification that tells `user` of `conversation` from
    /// `first_unread_seq` on. The same inputs always give the same id; another burst (a new
    /// first unread seq) gets another.
    pub fn of(conversation: ConversationId, user: &UserId, first_unread_seq: u64) -> Self {
        let mut name = Vec::with_capacity(16 + user.as_str().len() + 9);
        name.extend_from_slice(conversation.as_uuid().as_bytes());
        name.extend_from_slice(user.as_str().as_bytes());
        name.push(0);
        name.extend_from_slice(&first_unread_seq.to_be_bytes());
        Self(Uuid::new_v5(&NOTIFICATION_NAMESPACE, &name))
    }
}

/// The UUID v5 namespace of [`NotificationId`]s.
const NOTIFICATION_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_3c2a_9d4e_4f8a_b7c1_2e5d_0a9f_4c31);

/// Who is acting: the authenticated tenant and user, as the host's authentication says.
///
/// Every service call takes an `Identity`; the sender, tenant and membership of every
/// operation come from it, never from request bodies.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The tenant the user belongs to.
    pub tenant: TenantId,
    /// The acting user.
    pub user: UserId,
}

impl Identity {
    /// An identity in `tenant` for `user`.
    pub fn new(tenant: TenantId, user: UserId) -> Self {
        Self { tenant, user }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ids_are_validated() {
        assert!(UserId::new("alice").is_ok());
        assert!(UserId::new("").is_err());
        assert!(UserId::new("a".repeat(129)).is_err());
        assert!(UserId::new("a".repeat(128)).is_ok());
        assert!(UserId::new("bad\nid").is_err());
        assert!(serde_json::from_str::<UserId>("\"\"").is_err());
        assert_eq!(serde_json::from_str::<UserId>("\"bob\"").ok(), UserId::new("bob").ok());
    }
}
