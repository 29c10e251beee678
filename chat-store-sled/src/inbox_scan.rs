//! The entries of one or two parts (archived or not) of a user's inbox index, merged in
//! inbox order.

use std::ops::Bound;

use chat_core::{ArchiveFilter, InboxCursor, TagFilter, TenantId, UserId};

use crate::error::SledStoreError;
use crate::keys;

/// Prefix filter on an inbox entry's tag match key (the record is checked again).
pub(crate) fn tag_key_may_match(filter: &TagFilter, tag_key: &[u8]) -> bool {
    let mut wanted = filter.taggable_type.clone().into_bytes();
    wanted.push(0);
    match &filter.taggable_id {
        None => tag_key.starts_with(&wanted),
        Some(id) => {
            wanted.extend_from_slice(id.canonical().as_bytes());
            tag_key == wanted.as_slice()
        }
    }
}
/// The entries of one or two parts of a user's inbox, merged in inbox order.
pub(crate) struct InboxScan {
    parts: Vec<sled::Iter>,
    /// The next entry of each part, read ahead to merge.
    heads: Vec<Option<sled::Result<(sled::IVec, sled::IVec)>>>,
}

impl InboxScan {
    pub(crate) fn new(
        tree: &sled::Tree,
        tenant: &TenantId,
        user: &UserId,
        archive: ArchiveFilter,
        after: Option<&InboxCursor>,
    ) -> Self {
        let flags: &[bool] = match archive {
            ArchiveFilter::Active => &[false],
            ArchiveFilter::Archived => &[true],
            ArchiveFilter::All => &[false, true],
        };
        let mut parts: Vec<sled::Iter> = flags
            .iter()
            .map(|&archived| {
                let prefix = keys::inbox_prefix(tenant, user, archived);
                let mut end = prefix.clone();
                if let Some(last) = end.last_mut() {
                    // The flag byte is 0 or 1: the next value bounds the part.
                    *last += 1;
                }
                let start = match after {
                    Some(cursor) => {
                        let mut start = prefix;
                        start.extend_from_slice(&keys::cursor_suffix(cursor));
                        Bound::Excluded(start)
                    }
                    None => Bound::Included(prefix),
                };
                tree.range::<Vec<u8>, _>((start, Bound::Excluded(end)))
            })
            .collect();
        let heads = parts.iter_mut().map(Iterator::next).collect();
        Self { parts, heads }
    }

    /// The inbox-order suffix of a read-ahead entry (empty for an error, so it comes first).
    fn suffix(head: &Option<sled::Result<(sled::IVec, sled::IVec)>>) -> Option<&[u8]> {
        match head {
            None => None,
            Some(Err(_)) => Some(&[]),
            Some(Ok((key, _))) => Some(&key[key.len().saturating_sub(keys::INBOX_SUFFIX_LEN)..]),
        }
    }
}

impl Iterator for InboxScan {
    type Item = Result<(sled::IVec, sled::IVec), SledStoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, &[u8])> = None;
        for (index, head) in self.heads.iter().enumerate() {
            if let Some(suffix) = Self::suffix(head) {
                if best.is_none_or(|(_, best_suffix)| suffix < best_suffix) {
                    best = Some((index, suffix));
                }
            }
        }
        let (index, _) = best?;
        let next = self.parts[index].next();
        let head = std::mem::replace(&mut self.heads[index], next)?;
        Some(head.map_err(SledStoreError::from))
    }
}
