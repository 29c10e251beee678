//! A transactional tree that notes every write it is given, so that a committed
//! transaction's writes can go to the store's write-ahead log (`wal.rs`).

use std::cell::RefCell;

use sled::IVec;
use sled::transaction::{TransactionalTree, UnabortableTransactionError};

/// One write of a transaction: `value` `None` removes the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Write {
    /// The tree's place in the transaction (`Tx::tree`).
    pub(crate) tree: u8,
    pub(crate) key: IVec,
    pub(crate) value: Option<IVec>,
}

/// A [`TransactionalTree`] that appends each `insert` and `remove` to the writes of the
/// transaction attempt it belongs to (a retried attempt starts with none).
pub(crate) struct LoggedTree<'a> {
    tree: &'a TransactionalTree,
    index: u8,
    writes: &'a RefCell<Vec<Write>>,
}

impl<'a> LoggedTree<'a> {
    pub(crate) fn new(tree: &'a TransactionalTree, index: u8, writes: &'a RefCell<Vec<Write>>) -> Self {
        Self { tree, index, writes }
    }

    /// Reads `key` as this transaction sees it (its own writes included).
    pub(crate) fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<IVec>, UnabortableTransactionError> {
        self.tree.get(key)
    }

    /// Sets `key` to `value`, noting the write.
    pub(crate) fn insert(
        &self,
        key: impl Into<IVec>,
        value: impl Into<IVec>,
    ) -> Result<Option<IVec>, UnabortableTransactionError> {
        let (key, value) = (key.into(), value.into());
        let previous = self.tree.insert(key.clone(), value.clone())?;
        self.writes.borrow_mut().push(Write {
            tree: self.index,
            key,
            value: Some(value),
        });
        Ok(previous)
    }

    /// Removes `key`, noting the write.
    pub(crate) fn remove(&self, key: impl Into<IVec>) -> Result<Option<IVec>, UnabortableTransactionError> {
        let key = key.into();
        let previous = self.tree.remove(key.clone())?;
        self.writes.borrow_mut().push(Write {
            tree: self.index,
            key,
            value: None,
        });
        Ok(previous)
    }
}
