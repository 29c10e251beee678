//! Transactions and group commit: one writing transaction at a time (so every transaction
//! is serializable without retries), its writes gathered with those of the transactions
//! around it into one engine commit, and every writer acknowledged only once the commit
//! holding its writes has returned.
//!
//! Writes that are not in the engine yet live in two layers: `open` (gathering the next
//! group) and `sealed` (the group being committed). Writing transactions read through
//! both; reads see only the engine, so they never see a write before it is durable.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::ChatResult;

use super::engine::KvEngine;
use super::error::{KernelError, engine as engine_error};
use super::tx::{Layer, Tx};

/// How many writing operations were acknowledged and how many engine commits they needed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitStats {
    /// Operations that wrote something and were acknowledged.
    pub writes: u64,
    /// Engine commits (groups): each holds the writes of one or more operations.
    pub groups: u64,
}

struct Layers {
    /// Writes of the group now gathering, number `open_group`.
    open: Layer,
    open_group: u64,
    /// The group being committed (number `open_group - 1`), until the engine holds it.
    sealed: Option<Arc<Layer>>,
    /// Why writes are refused: a commit failed, so later writes built on it are void.
    poisoned: Option<String>,
}

/// The kernel's transactions over one engine.
pub(crate) struct GroupCommit {
    layers: Mutex<Layers>,
    /// The number of the last group the engine committed; held by the group's leader.
    durable: Mutex<u64>,
    writes: AtomicU64,
    groups: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GroupCommit {
    pub(crate) fn new() -> Self {
        Self {
            layers: Mutex::new(Layers {
                open: Layer::new(),
                open_group: 1,
                sealed: None,
                poisoned: None,
            }),
            durable: Mutex::new(0),
            writes: AtomicU64::new(0),
            groups: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            writes: self.writes.load(Ordering::Relaxed),
            groups: self.groups.load(Ordering::Relaxed),
        }
    }

    /// Runs `body` as one read over what the engine holds (durable writes only).
    pub(crate) fn read<E: KvEngine, T>(
        &self,
        engine: &E,
        body: impl FnOnce(&Tx<'_>) -> ChatResult<T>,
    ) -> ChatResult<T> {
        let view = engine.read().map_err(engine_error)?;
        body(&Tx::read(&view))
    }

    /// Runs `body` as one writing transaction; its writes join the open group (an error
    /// discards them). Returns once every write it wrote or read is durable: also an
    /// operation that changed nothing waits, since what it read may belong to a group still
    /// being committed.
    pub(crate) fn write<E: KvEngine, T>(
        &self,
        engine: &E,
        body: impl FnOnce(&Tx<'_>) -> ChatResult<T>,
    ) -> ChatResult<T> {
        let (answer, wrote, wait_for) = {
            let mut layers = lock(&self.layers);
            if let Some(reason) = &layers.poisoned {
                return Err(KernelError::Poisoned(reason.clone()).into());
            }
            let view = engine.read().map_err(engine_error)?;
            let (answer, writes) = {
                let mut below: Vec<&Layer> = Vec::with_capacity(2);
                if let Some(sealed) = &layers.sealed {
                    below.push(sealed);
                }
                below.push(&layers.open);
                let tx = Tx::new(&view, below);
                let answer = body(&tx)?;
                (answer, tx.into_writes())
            };
            drop(view);
            let wrote = !writes.is_empty();
            layers.open.extend(writes);
            let wait_for = if !layers.open.is_empty() {
                Some(layers.open_group)
            } else if layers.sealed.is_some() {
                Some(layers.open_group - 1)
            } else {
                None
            };
            (answer, wrote, wait_for)
        };
        if let Some(group) = wait_for {
            self.wait_durable(engine, group)?;
        }
        if wrote {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(answer)
    }

    /// Waits until group `group` is committed, leading a commit of the open group when no
    /// one else is: the first writer to wait commits everything gathered so far, and the
    /// writers that gather meanwhile share the next commit.
    fn wait_durable<E: KvEngine>(&self, engine: &E, group: u64) -> ChatResult<()> {
        let mut durable = lock(&self.durable);
        while *durable < group {
            let (batch, number) = {
                let mut layers = lock(&self.layers);
                if let Some(reason) = &layers.poisoned {
                    return Err(KernelError::Poisoned(reason.clone()).into());
                }
                let batch = Arc::new(std::mem::take(&mut layers.open));
                layers.sealed = Some(Arc::clone(&batch));
                let number = layers.open_group;
                layers.open_group += 1;
                (batch, number)
            };
            let committed = catch_unwind(AssertUnwindSafe(|| engine.commit(&batch)))
                .unwrap_or_else(|_| Err("the engine panicked while committing".into()));
            let mut layers = lock(&self.layers);
            layers.sealed = None;
            if let Err(error) = committed {
                layers.poisoned = Some(error.to_string());
                return Err(engine_error(error));
            }
            *durable = number;
            self.groups.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}
