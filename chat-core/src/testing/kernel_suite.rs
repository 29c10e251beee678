//! The storage kernel's own suite, over any engine: what the kernel promises beyond the
//! store conformance suite (which every `KvStore` also runs). Each case wraps the engine
//! under test in a test engine that holds or fails its commits, so the window between a
//! transaction and its durable commit can be observed.
//!
//! An engine adapter proves itself with one line in its tests:
//!
//! ```ignore
//! chat_core::kernel_tests!(async { MyEngine::open_temporary().await });
//! ```

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::kernel::{EngineError, KvEngine, KvStore, WriteBatch};
use crate::store::{HistoryQuery, Store};
use crate::testing::Fixture;

/// Generates one `#[tokio::test]` per case of the [kernel suite](crate::testing::kernel_suite)
/// over the engines the given expression makes (an `async` block evaluating to the engine).
#[macro_export]
macro_rules! kernel_tests {
    ($make_engine:expr) => {
        $crate::kernel_tests!(@cases $make_engine;
            a_reader_never_sees_a_write_before_its_commit_is_durable,
            writers_waiting_on_one_commit_share_the_next,
            a_failed_commit_refuses_later_writes_and_keeps_reads,
        );
    };
    (@cases $make_engine:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::testing::kernel_suite::$case($make_engine.await).await;
            }
        )*
    };
}

#[derive(Debug, Default)]
struct GateState {
    /// Commits wait while closed.
    closed: bool,
    /// Commits waiting now.
    waiting: usize,
    /// Commits that passed.
    passed: usize,
    /// The next commit fails (once).
    fail_next: bool,
}

/// Holds or fails the commits of a [`GatedEngine`].
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits from now on wait until [`Gate::open`].
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// Lets the waiting commits (and later ones) through.
    pub fn open(&self) {
        self.lock().closed = false;
        self.changed.notify_all();
    }

    /// The next commit fails with an engine error instead of reaching the engine.
    pub fn fail_next(&self) {
        self.lock().fail_next = true;
    }

    /// Commits that reached the engine so far.
    pub fn passed(&self) -> usize {
        self.lock().passed
    }

    /// Waits (on a blocking thread) until `count` commits wait at the closed gate.
    pub async fn until_waiting(self: &Arc<Self>, count: usize) {
        let gate = Arc::clone(self);
        let waited = tokio::task::spawn_blocking(move || {
            let state = gate.lock();
            let (_state, timeout) = gate
                .changed
                .wait_timeout_while(state, Duration::from_secs(10), |state| state.waiting < count)
                .unwrap_or_else(PoisonError::into_inner);
            !timeout.timed_out()
        })
        .await
        .expect("the gate's waiter");
        assert!(waited, "{count} commit(s) never reached the gate");
    }

    fn pass(&self) -> Result<(), EngineError> {
        let mut state = self.lock();
        if std::mem::take(&mut state.fail_next) {
            return Err("the test gate failed this commit".into());
        }
        state.waiting += 1;
        self.changed.notify_all();
        let mut state = self
            .changed
            .wait_while(state, |state| state.closed)
            .unwrap_or_else(PoisonError::into_inner);
        state.waiting -= 1;
        state.passed += 1;
        Ok(())
    }
}

/// An engine whose commits pass a [`Gate`] before they reach the engine under test.
#[derive(Debug)]
pub struct GatedEngine<E> {
    inner: E,
    gate: Arc<Gate>,
}

impl<E: KvEngine> GatedEngine<E> {
    /// `inner` behind a new gate (open).
    pub fn new(inner: E) -> (Self, Arc<Gate>) {
        let gate = Arc::new(Gate::default());
        (
            Self {
                inner,
                gate: Arc::clone(&gate),
            },
            gate,
        )
    }
}

impl<E: KvEngine> KvEngine for GatedEngine<E> {
    type Read<'a> = E::Read<'a>;

    fn read(&self) -> Result<E::Read<'_>, EngineError> {
        self.inner.read()
    }

    fn commit(&self, batch: &WriteBatch) -> Result<(), EngineError> {
        self.gate.pass()?;
        self.inner.commit(batch)
    }
}

/// Opens its gate when dropped, so that a case that fails while commits wait at a closed
/// gate ends (its runtime waits for blocking threads) instead of hanging.
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

impl std::ops::Deref for OpenOnDrop {
    type Target = Gate;

    fn deref(&self) -> &Gate {
        &self.0
    }
}

async fn gated<E: KvEngine>(engine: E) -> (Arc<dyn Store>, OpenOnDrop, Fixture) {
    let (engine, gate) = GatedEngine::new(engine);
    let store: Arc<dyn Store> = Arc::new(KvStore::over(engine).expect("the kernel over the engine"));
    let fx = Fixture::new(Arc::clone(&store), 3);
    (store, OpenOnDrop(gate), fx)
}

/// Invariant 20: while the commit holding a send is in flight, no read (history, the
/// conversation, stats, the inbox) shows it, and the sender is not acknowledged; a writer
/// running meanwhile does see it (the next send takes the next seq); once the commit is
/// through, the sender is acknowledged and every read shows it.
pub async fn a_reader_never_sees_a_write_before_its_commit_is_durable<E: KvEngine>(engine: E) {
    let (store, gate, fx) = gated(engine).await;
    let id = fx.direct(0, 1).await;
    let first = fx.send(0, id, "before").await;
    gate.close();
    let sender = {
        let fx = fx.clone();
        tokio::spawn(async move { fx.send(0, id, "in flight").await })
    };
    gate.0.until_waiting(1).await;
    let reader = fx.user(1);
    for _ in 0..20 {
        let page = store
            .history_page(
                reader,
                id,
                HistoryQuery {
                    limit: 50,
                    ..HistoryQuery::default()
                },
            )
            .await
            .expect("history");
        assert_eq!(
            page.messages.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            ["before"],
            "a message whose commit is in flight is not read"
        );
        let record = store.get_conversation(reader, id).await.expect("conversation");
        assert_eq!(record.conversation.last_seq, first.seq);
        assert_eq!(store.stats(reader).await.expect("stats").unread_messages, 1);
        assert!(!sender.is_finished(), "no acknowledgement before the commit is through");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // A writer meanwhile reads through the commit in flight: its send takes the next seq.
    let second = {
        let fx = fx.clone();
        tokio::spawn(async move { fx.send(1, id, "after it").await })
    };
    gate.open();
    let in_flight = sender.await.expect("the sender");
    let after = second.await.expect("the second sender");
    assert_eq!(in_flight.seq, first.seq + 1);
    assert_eq!(after.seq, first.seq + 2, "the writer saw the commit in flight");
    let page = store
        .history_page(
            reader,
            id,
            HistoryQuery {
                limit: 50,
                ..HistoryQuery::default()
            },
        )
        .await
        .expect("history");
    assert_eq!(
        page.messages.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["before", "in flight", "after it"]
    );
}

/// Group commit: writers that run while a commit is held gather into one next commit.
pub async fn writers_waiting_on_one_commit_share_the_next<E: KvEngine>(engine: E) {
    let (_store, gate, fx) = gated(engine).await;
    let id = fx.group(0, &[1, 2]).await;
    gate.close();
    let held = {
        let fx = fx.clone();
        tokio::spawn(async move { fx.send(0, id, "held").await })
    };
    gate.0.until_waiting(1).await;
    let passed = gate.passed();
    let mut gathered = Vec::new();
    for n in 0..8 {
        let fx = fx.clone();
        gathered.push(tokio::spawn(async move { fx.send(n % 3, id, "gathered").await }));
    }
    // Let them run their transactions into the open group.
    tokio::time::sleep(Duration::from_millis(200)).await;
    gate.open();
    let mut seqs = vec![held.await.expect("held").seq];
    for task in gathered {
        seqs.push(task.await.expect("gathered").seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=9).collect::<Vec<u64>>(), "dense seqs");
    assert_eq!(
        gate.passed() - passed,
        2,
        "the held commit, then one commit for the eight writers gathered behind it"
    );
}

/// A failed commit fails its writers; later writes are refused (their group may rest on
/// the lost one) while reads go on, and nothing of the failed batch is ever read.
pub async fn a_failed_commit_refuses_later_writes_and_keeps_reads<E: KvEngine>(engine: E) {
    let (store, gate, fx) = gated(engine).await;
    let id = fx.direct(0, 1).await;
    fx.send(0, id, "kept").await;
    gate.fail_next();
    let failed = fx
        .messages()
        .send(fx.user(0), id, crate::service::SendMessage::text("lost"))
        .await;
    assert!(failed.is_err(), "the writer of a failed commit gets an error");
    let later = fx
        .messages()
        .send(fx.user(1), id, crate::service::SendMessage::text("later"))
        .await;
    assert!(later.is_err(), "writes after a failed commit are refused");
    let page = store
        .history_page(
            fx.user(1),
            id,
            HistoryQuery {
                limit: 50,
                ..HistoryQuery::default()
            },
        )
        .await
        .expect("reads go on");
    assert_eq!(
        page.messages.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["kept"]
    );
}
