//! A transaction of the kernel: reads see the engine's view with the writes not yet in the
//! engine laid over it (earlier transactions' still being committed, then this one's own);
//! writes go to this transaction's own layer until it ends.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Bound;

use crate::error::ChatResult;

use super::engine::{Direction, KvRead, KvScan};
use super::error::engine;

/// Writes by key; `None` removes the key.
pub(crate) type Layer = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// One transaction (or, without layers and never written, one read).
pub(crate) struct Tx<'a> {
    base: &'a dyn KvRead,
    /// Writes of earlier transactions the engine does not hold yet, oldest first.
    below: Vec<&'a Layer>,
    own: RefCell<Layer>,
}

impl<'a> Tx<'a> {
    /// A transaction over `base` with `below` (oldest first) laid over it.
    pub(crate) fn new(base: &'a dyn KvRead, below: Vec<&'a Layer>) -> Self {
        Self {
            base,
            below,
            own: RefCell::new(Layer::new()),
        }
    }

    /// A read of what `base` holds.
    pub(crate) fn read(base: &'a dyn KvRead) -> Self {
        Self::new(base, Vec::new())
    }

    /// This transaction's writes.
    pub(crate) fn into_writes(self) -> Layer {
        self.own.into_inner()
    }

    /// The value of `key` as this transaction sees it.
    pub(crate) fn get(&self, key: &[u8]) -> ChatResult<Option<Vec<u8>>> {
        if let Some(value) = self.own.borrow().get(key) {
            return Ok(value.clone());
        }
        for layer in self.below.iter().rev() {
            if let Some(value) = layer.get(key) {
                return Ok(value.clone());
            }
        }
        self.base.get(key).map_err(engine)
    }

    /// Sets `key` to `value`.
    pub(crate) fn put(&self, key: Vec<u8>, value: Vec<u8>) {
        self.own.borrow_mut().insert(key, Some(value));
    }

    /// Removes `key`.
    pub(crate) fn delete(&self, key: Vec<u8>) {
        self.own.borrow_mut().insert(key, None);
    }

    /// The entries with `start <= key < end` as this transaction sees them, ascending or
    /// descending. What the layers hold of the range is copied when the scan starts (later
    /// writes of this transaction do not show in it); the engine's part is read lazily.
    pub(crate) fn scan(&self, start: &[u8], end: Option<&[u8]>, direction: Direction) -> Merged<'a> {
        let range = |layer: &Layer| -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
            if end.is_some_and(|end| end <= start) {
                return Vec::new();
            }
            let upper = end.map_or(Bound::Unbounded, |end| Bound::Excluded(end.to_vec()));
            let mut entries: Vec<_> = layer
                .range::<Vec<u8>, _>((Bound::Included(start.to_vec()), upper))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            if direction == Direction::Backward {
                entries.reverse();
            }
            entries
        };
        // Highest priority first: this transaction's writes, then the newest layer below.
        let mut layers = vec![range(&self.own.borrow())];
        layers.extend(self.below.iter().rev().map(|layer| range(layer)));
        Merged {
            layers: layers
                .into_iter()
                .map(|entries| entries.into_iter().peekable())
                .collect(),
            base: self.base.scan(start, end, direction).peekable(),
            direction,
        }
    }

    /// Every entry whose key starts with `prefix`, ascending.
    pub(crate) fn scan_prefix(&self, prefix: &[u8]) -> Merged<'a> {
        let end = super::keys::prefix_end(prefix);
        self.scan(prefix, end.as_deref(), Direction::Forward)
    }
}

type LayerEntries = std::iter::Peekable<std::vec::IntoIter<(Vec<u8>, Option<Vec<u8>>)>>;

/// A scan of a transaction: the layers' entries merged over the engine's, the higher
/// layer winning for a key, removed keys skipped.
pub(crate) struct Merged<'a> {
    layers: Vec<LayerEntries>,
    base: std::iter::Peekable<KvScan<'a>>,
    direction: Direction,
}

/// True when `candidate` comes before `best` in a scan in `direction`.
fn comes_first(direction: Direction, candidate: &[u8], best: &[u8]) -> bool {
    match direction {
        Direction::Forward => candidate < best,
        Direction::Backward => candidate > best,
    }
}

impl Iterator for Merged<'_> {
    type Item = ChatResult<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut next: Option<Vec<u8>> = None;
            match self.base.peek() {
                Some(Err(_)) => {
                    return self.base.next().map(|entry| entry.map_err(engine));
                }
                Some(Ok((key, _))) => next = Some(key.clone()),
                None => {}
            }
            for layer in &mut self.layers {
                if let Some((key, _)) = layer.peek() {
                    if next.as_ref().is_none_or(|best| comes_first(self.direction, key, best)) {
                        next = Some(key.clone());
                    }
                }
            }
            let key = next?;
            // The highest layer holding the key decides; every source moves past it.
            let mut value: Option<Option<Vec<u8>>> = None;
            for layer in &mut self.layers {
                if let Some(entry) = layer.next_if(|(candidate, _)| *candidate == key) {
                    value.get_or_insert(entry.1);
                }
            }
            if let Some(Ok((_, base_value))) = self.base.next_if(|entry| entry.as_ref().is_ok_and(|(k, _)| *k == key)) {
                value.get_or_insert(Some(base_value));
            }
            if let Some(Some(value)) = value {
                return Some(Ok((key, value)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::engine::KvEngine;
    use crate::kernel::memory::MemoryEngine;

    fn engine_with(entries: &[(&[u8], &[u8])]) -> MemoryEngine {
        let engine = MemoryEngine::new();
        let batch = entries
            .iter()
            .map(|(key, value)| (key.to_vec(), Some(value.to_vec())))
            .collect();
        engine.commit(&batch).expect("commit");
        engine
    }

    fn keys(scan: Merged<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
        scan.collect::<ChatResult<Vec<_>>>().expect("scan")
    }

    #[test]
    fn layers_override_the_engine_and_removals_hide_its_keys() {
        let engine = engine_with(&[(b"a", b"1"), (b"b", b"1"), (b"c", b"1"), (b"e", b"1")]);
        let read = engine.read().expect("read");
        let mut older = Layer::new();
        older.insert(b"b".to_vec(), None);
        older.insert(b"d".to_vec(), Some(b"2".to_vec()));
        let mut newer = Layer::new();
        newer.insert(b"b".to_vec(), Some(b"3".to_vec()));
        newer.insert(b"c".to_vec(), None);
        let tx = Tx::new(&read, vec![&older, &newer]);
        tx.put(b"e".to_vec(), b"4".to_vec());
        tx.delete(b"a".to_vec());
        let forward = keys(tx.scan(b"", None, Direction::Forward));
        let expected = vec![
            (b"b".to_vec(), b"3".to_vec()),
            (b"d".to_vec(), b"2".to_vec()),
            (b"e".to_vec(), b"4".to_vec()),
        ];
        assert_eq!(forward, expected);
        let mut backward = keys(tx.scan(b"", None, Direction::Backward));
        backward.reverse();
        assert_eq!(backward, expected);
        assert_eq!(
            keys(tx.scan(b"c", Some(b"e"), Direction::Forward)),
            expected[1..2].to_vec()
        );
        assert_eq!(tx.get(b"a").expect("get"), None);
        assert_eq!(tx.get(b"b").expect("get"), Some(b"3".to_vec()));
        assert_eq!(tx.get(b"c").expect("get"), None);
        assert_eq!(tx.get(b"d").expect("get"), Some(b"2".to_vec()));
        assert_eq!(Tx::read(&read).get(b"c").expect("get"), Some(b"1".to_vec()));
    }

    #[test]
    fn prefix_scans_stop_at_the_prefix() {
        let engine = engine_with(&[(b"\x01a", b"1"), (b"\x01\xff", b"2"), (b"\x02", b"3")]);
        let read = engine.read().expect("read");
        let tx = Tx::read(&read);
        assert_eq!(
            keys(tx.scan_prefix(b"\x01")),
            vec![
                (b"\x01a".to_vec(), b"1".to_vec()),
                (b"\x01\xff".to_vec(), b"2".to_vec())
            ]
        );
    }
}
