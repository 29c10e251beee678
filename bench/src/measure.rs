//! Driving concurrent operations for a fixed time and summarising their latencies.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A boxed operation future.
pub type OpFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Latencies and throughput of one measured case.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// Completed operations.
    pub ops: usize,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Every operation's latency in microseconds, sorted.
    pub latencies_us: Vec<u64>,
}

impl Measured {
    /// Summary of latencies gathered elsewhere (e.g. WebSocket receipts).
    pub fn from_latencies(mut latencies_us: Vec<u64>, elapsed: Duration) -> Self {
        latencies_us.sort_unstable();
        Self {
            ops: latencies_us.len(),
            elapsed,
            latencies_us,
        }
    }

    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.ops as f64 / secs } else { 0.0 }
    }

    /// The `q` quantile (0..=1) in milliseconds, nearest rank.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.latencies_us.len() as f64).ceil() as usize).clamp(1, self.latencies_us.len());
        self.latencies_us[rank - 1] as f64 / 1000.0
    }

    /// Median in milliseconds.
    pub fn p50(&self) -> f64 {
        self.quantile_ms(0.50)
    }

    /// 99th percentile in milliseconds.
    pub fn p99(&self) -> f64 {
        self.quantile_ms(0.99)
    }
}

/// Runs `op(worker, iteration)` from `concurrency` tasks, each one operation at a time,
/// until `duration` has passed; a short warm-up of `warmup` is run first and not counted.
pub async fn drive<F>(concurrency: usize, duration: Duration, warmup: Duration, op: F) -> Measured
where
    F: Fn(usize, u64) -> OpFuture + Send + Sync + 'static,
{
    let op = Arc::new(op);
    if !warmup.is_zero() {
        run(concurrency, warmup, Arc::clone(&op), 1_000_000_000).await;
    }
    run(concurrency, duration, op, 0).await
}

/// A throughput case of [`drive_rotating`]: `op(worker, iteration)`.
pub type Op = Arc<dyn Fn(usize, u64) -> OpFuture + Send + Sync>;

/// Runs each of `ops` from `concurrency` tasks for `duration` in all, in `turns` turns taken
/// in rotation (a, b, c, a, b, c, ...) after a `warmup` of each, so that slow drifts of the
/// machine (the database's checkpoints and autovacuum, growing tables) fall on every case
/// alike. One result per op, its operations, time and latencies summed over its turns.
pub async fn drive_rotating(
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    turns: u32,
    ops: &[Op],
) -> Vec<Measured> {
    let turns = turns.max(1);
    let mut results: Vec<Measured> = ops.iter().map(|_| Measured::default()).collect();
    for op in ops {
        if !warmup.is_zero() {
            let op = Arc::clone(op);
            run(concurrency, warmup, Arc::new(move |w, i| op(w, i)), 1_000_000_000).await;
        }
    }
    for turn in 0..turns {
        for (index, op) in ops.iter().enumerate() {
            let op = Arc::clone(op);
            let first_iteration = 2_000_000_000 + u64::from(turn) * 100_000_000;
            let part = run(
                concurrency,
                duration / turns,
                Arc::new(move |w, i| op(w, i)),
                first_iteration,
            )
            .await;
            let total = &mut results[index];
            total.ops += part.ops;
            total.elapsed += part.elapsed;
            total.latencies_us.extend(part.latencies_us);
        }
    }
    for result in &mut results {
        result.latencies_us.sort_unstable();
    }
    results
}

async fn run<F>(concurrency: usize, duration: Duration, op: Arc<F>, first_iteration: u64) -> Measured
where
    F: Fn(usize, u64) -> OpFuture + Send + Sync + 'static,
{
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let op = Arc::clone(&op);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut iteration = first_iteration;
            while Instant::now() < deadline {
                let began = Instant::now();
                op(worker, iteration).await;
                latencies.push(began.elapsed().as_micros() as u64);
                iteration += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a benchmark worker panicked"));
    }
    Measured::from_latencies(all, start.elapsed())
}

/// Runs `op(iteration)` `count` times sequentially and returns the latencies.
pub async fn repeat<F, Fut>(count: usize, mut op: F) -> Measured
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(count);
    for iteration in 0..count as u64 {
        let began = Instant::now();
        op(iteration).await;
        latencies.push(began.elapsed().as_micros() as u64);
    }
    Measured::from_latencies(latencies, start.elapsed())
}

/// One operation of an [`interleaved`] run.
pub type Case = Box<dyn Fn() -> OpFuture + Send + Sync>;

/// Runs each of `cases` once per round, `rounds` rounds after `warmup` rounds that are not
/// counted, starting every round at the next case. Whatever disturbs the machine meanwhile
/// (the load generator, the database's background work, other processes) falls on every
/// case alike, so ratios between the cases compare like with like. One result per case;
/// its `elapsed` is the sum of its own latencies.
pub async fn interleaved(rounds: usize, warmup: usize, cases: &[Case]) -> Vec<Measured> {
    let mut latencies: Vec<Vec<u64>> = cases.iter().map(|_| Vec::with_capacity(rounds)).collect();
    for round in 0..warmup + rounds {
        for offset in 0..cases.len() {
            let index = (round + offset) % cases.len();
            let began = Instant::now();
            cases[index]().await;
            if round >= warmup {
                latencies[index].push(began.elapsed().as_micros() as u64);
            }
        }
    }
    latencies
        .into_iter()
        .map(|case| {
            let total = Duration::from_micros(case.iter().sum());
            Measured::from_latencies(case, total)
        })
        .collect()
}

/// Resident memory of this process in KiB (`VmRSS`), if readable.
pub fn rss_kib() -> Option<u64> {
    rss_kib_of(std::process::id())
}

/// Resident memory of process `pid` in KiB (`VmRSS` of `/proc/<pid>/status`), if readable.
pub fn rss_kib_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system) process `pid` has used so far, in seconds, if readable: fields
/// 14 and 15 of `/proc/<pid>/stat`, in the kernel's fixed 100 ticks a second.
pub fn cpu_secs_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let user: u64 = fields.nth(11)?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}
