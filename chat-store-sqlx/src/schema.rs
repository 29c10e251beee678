//! The validated name of the Postgres schema the chat tables live in.

use std::fmt;

use crate::error::PgStoreError;

/// The default schema: `chat`.
pub const DEFAULT_SCHEMA: &str = "chat";

/// True for a plain lower-case SQL identifier: `[a-z_][a-z0-9_]{0,62}`.
pub(crate) fn is_plain_identifier(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A schema name checked to be a plain lower-case identifier (`[a-z_][a-z0-9_]{0,62}`), so
/// it can be written into SQL text (always double-quoted as well) without injection risk.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SchemaName(String);

impl SchemaName {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, PgStoreError> {
        let name = name.into();
        if is_plain_identifier(&name) {
            Ok(Self(name))
        } else {
            Err(PgStoreError::InvalidSchema { name })
        }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted as an SQL identifier: `"chat"`.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl Default for SchemaName {
    fn default() -> Self {
        Self(DEFAULT_SCHEMA.to_owned())
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["chat", "_x", "chat_test_0123abcd", &"a".repeat(63)] {
            assert!(SchemaName::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Chat",
            "9chat",
            "chat-x",
            "chat\"; drop table x; --",
            "ch at",
            "é",
            &"a".repeat(64),
        ] {
            assert!(SchemaName::new(bad).is_err(), "{bad}");
        }
    }
}
