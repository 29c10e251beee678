//! A user's totals, kept in the `user_stats` tree by every transaction that changes them,
//! so that [`crate::SledStore`]'s `stats` is one key read.

use chat_core::Stats;

use crate::error::SledStoreError;
use crate::keys;

/// Total conversations, unread conversations and unread messages of one user (3 × 8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) total: u64,
    pub(crate) unread_conversations: u64,
    pub(crate) unread_messages: u64,
}

impl Counters {
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, SledStoreError> {
        let corrupt = || SledStoreError::corrupt("user stats", format!("{} bytes", bytes.len()));
        let field = |index: usize| {
            bytes
                .get(index * 8..index * 8 + 8)
                .and_then(keys::u64_value)
                .ok_or_else(corrupt)
        };
        if bytes.len() != 24 {
            return Err(corrupt());
        }
        Ok(Self {
            total: field(0)?,
            unread_conversations: field(1)?,
            unread_messages: field(2)?,
        })
    }

    pub(crate) fn encode(self) -> [u8; 24] {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.total.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.unread_conversations.to_be_bytes());
        bytes[16..].copy_from_slice(&self.unread_messages.to_be_bytes());
        bytes
    }

    pub(crate) fn stats(self) -> Stats {
        Stats {
            total_conversations: self.total,
            unread_conversations: self.unread_conversations,
            unread_messages: self.unread_messages,
        }
    }
}
