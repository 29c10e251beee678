//! Group commit: many writers waiting for one flush.
//!
//! Each writer, once its transaction has committed, takes a ticket and waits until a flush
//! that started after its ticket was taken has completed. At most one flush runs at a
//! time, on tokio's blocking pool; every writer that arrives while it runs is covered by
//! the next one, so N concurrent writers cost about two flushes rather than N.
//!
//! sled's own `flush_async` is not used: in sled 0.34 concurrent `flush_async` calls can
//! deadlock (sled issue #1308, fixed only on sled's unreleased main branch). They occupy
//! every thread of sled's I/O pool waiting for a buffer write that is queued on that same
//! pool. Here a single blocking `flush` runs on tokio's blocking pool, so sled's pool stays
//! free for the write it waits for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::error::SledStoreError;

/// How far flushing has got: every ticket up to `durable` is on disk, or flushing failed
/// (sled then refuses every later write too).
#[derive(Clone, Debug)]
enum Progress {
    Durable(u64),
    Failed(Arc<str>),
}

#[derive(Debug, Default)]
struct State {
    /// The last ticket handed out.
    requested: u64,
    /// True while a flush loop runs.
    flushing: bool,
}

/// Counters of the group commit, for monitoring (see [`crate::SledStore::commit_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Writes that waited for durability.
    pub durable_writes: u64,
    /// Flushes run for them. Far fewer than `durable_writes` under concurrency.
    pub flushes: u64,
}

/// The shared flush of one database.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    db: sled::Db,
    state: Mutex<State>,
    progress: watch::Sender<Progress>,
    flushes: AtomicU64,
}

impl GroupCommit {
    pub(crate) fn new(db: sled::Db) -> Self {
        Self {
            db,
            state: Mutex::new(State::default()),
            progress: watch::Sender::new(Progress::Durable(0)),
            flushes: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            durable_writes: self.lock().requested,
            flushes: self.flushes.load(Ordering::Relaxed),
        }
    }

    /// Waits until everything committed before this call is flushed to disk.
    ///
    /// Must be called from within a tokio runtime. Cancelling the wait does not cancel
    /// the flush, which other writers may be waiting for.
    pub(crate) async fn wait_durable(self: &Arc<Self>) -> Result<(), SledStoreError> {
        let mut progress = self.progress.subscribe();
        let (ticket, start) = {
            let mut state = self.lock();
            state.requested += 1;
            let start = !state.flushing;
            state.flushing = true;
            (state.requested, start)
        };
        if start {
            let this = Arc::clone(self);
            drop(tokio::task::spawn_blocking(move || this.flush_loop()));
        }
        loop {
            match &*progress.borrow_and_update() {
                Progress::Durable(durable) if *durable >= ticket => return Ok(()),
                Progress::Durable(_) => {}
                Progress::Failed(error) => return Err(SledStoreError::Flush(error.to_string())),
            }
            if progress.changed().await.is_err() {
                return Err(SledStoreError::Flush("the store was closed".to_owned()));
            }
        }
    }

    /// Flushes until no ticket is left uncovered, then stops.
    fn flush_loop(&self) {
        loop {
            // Every ticket up to here was taken after its transaction committed, so this
            // flush covers it.
            let covered = self.lock().requested;
            let result = self.db.flush();
            self.flushes.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(_) => self.progress.send_modify(|progress| {
                    if let Progress::Durable(durable) = progress {
                        *durable = (*durable).max(covered);
                    }
                }),
                Err(error) => {
                    tracing::error!(%error, "chat-store-sled: flushing to disk failed");
                    self.progress
                        .send_replace(Progress::Failed(Arc::from(error.to_string())));
                }
            }
            let mut state = self.lock();
            if state.requested == covered {
                state.flushing = false;
                return;
            }
        }
    }
}
