//! Group commit: many writers waiting for one flush.
//!
//! Each writer, once its transaction has committed, takes a ticket and waits until a flush
//! that started after its ticket was taken has completed. At most one flush runs at a
//! time, on tokio's blocking pool; every writer that arrives while it runs is covered by
//! the next one, so N concurrent writers cost a few flushes rather than N.
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
    /// True while a leader's flush runs.
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
    /// The first waiter to find no flush running leads: it runs one flush (on tokio's
    /// blocking pool) covering every ticket handed out so far, publishes the result and
    /// wakes the others, who are covered or lead the next flush. The flush holds its own
    /// handle on the database and drops it before the leader is woken, so once every
    /// write has returned, dropping the store closes the database at once.
    ///
    /// Must be called from within a tokio runtime. A cancelled leader hands over to the
    /// next waiter.
    pub(crate) async fn wait_durable(&self) -> Result<(), SledStoreError> {
        let mut progress = self.progress.subscribe();
        let ticket = {
            let mut state = self.lock();
            state.requested += 1;
            state.requested
        };
        loop {
            match &*progress.borrow_and_update() {
                Progress::Durable(durable) if *durable >= ticket => return Ok(()),
                Progress::Durable(_) => {}
                Progress::Failed(error) => return Err(SledStoreError::Flush(error.to_string())),
            }
            let covered = {
                let mut state = self.lock();
                if state.flushing {
                    None
                } else {
                    state.flushing = true;
                    Some(state.requested)
                }
            };
            match covered {
                Some(covered) => self.lead_flush(covered).await,
                None => {
                    if progress.changed().await.is_err() {
                        return Err(SledStoreError::Flush("the store was closed".to_owned()));
                    }
                }
            }
        }
    }

    /// Runs one flush covering tickets up to `covered` and publishes its outcome.
    async fn lead_flush(&self, covered: u64) {
        let mut turn = FlushTurn {
            commit: self,
            outcome: None,
        };
        let db = self.db.clone();
        let result = tokio::task::spawn_blocking(move || db.flush()).await;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        turn.outcome = Some(match result {
            Ok(Ok(_)) => Ok(covered),
            Ok(Err(error)) => Err(error.to_string()),
            Err(error) => Err(error.to_string()),
        });
    }
}

/// The leader's turn: whatever happens to the leader (done or cancelled), ending the turn
/// publishes the outcome, lets the next waiter lead and wakes everyone.
struct FlushTurn<'a> {
    commit: &'a GroupCommit,
    outcome: Option<Result<u64, String>>,
}

impl Drop for FlushTurn<'_> {
    fn drop(&mut self) {
        self.commit.lock().flushing = false;
        let outcome = self.outcome.take();
        self.commit
            .progress
            .send_modify(|progress| match (outcome, &mut *progress) {
                (Some(Ok(covered)), Progress::Durable(durable)) => *durable = (*durable).max(covered),
                (Some(Err(error)), _) => {
                    tracing::error!(%error, "chat-store-sled: flushing to disk failed");
                    *progress = Progress::Failed(Arc::from(error));
                }
                // Cancelled, or already failed: nothing new, but wake the waiters so that one
                // of them leads the next flush.
                _ => {}
            });
    }
}
