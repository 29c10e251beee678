//! # chat-bench
//!
//! Load and scale scenarios of the chat library on sled and Postgres, each compared with a
//! raw baseline or a smaller data set measured in the same run (the machine is shared by
//! the load generator and the server, so ratios are what carry over to other machines).
//!
//! ```text
//! cargo run --release -p chat-bench -- --store sled|postgres|all --scenario NAME|all [--quick] [--out DIR]
//! ```
//!
//! Scenarios: `send`, `inbox`, `history`, `stats`, `find-or-create`, `websocket`, `search`,
//! `group-fanout`, `replies` (replies and reactions against plain messages), `attachments` (a 5 MiB upload
//! against a plain copy into the same object store), `cross-node` (live events from node A to node B: `PgEventBus` against
//! `RedisEventBus`, once per run whatever `--store` says; Redis from `REDIS_URL`).
//! Postgres comes from `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! every scenario runs in its own schema `bench_<uuid>`, dropped at the end. sled data goes
//! to `<out>/data` and is removed at the end. Output: a table on stdout, and in `--out`
//! (default `target/bench`): `BENCHMARKS.md`, `results.json`, `latency-vs-size.svg`.
//!
//! Full-run sizes can be reduced with `BENCH_HISTORY_SIZE`, `BENCH_INBOX_SIZE` and
//! `BENCH_WS_CLIENTS`.
#![forbid(unsafe_code)]

mod attachments;
mod cross_node;
mod env;
mod erase;
mod group_fanout;
mod load;
mod measure;
mod notifications;
mod replies;
mod report;
mod scenarios;
mod search;
mod send;
mod write_cost;
mod ws_clients;

use std::path::PathBuf;
use std::time::Instant;

use env::Backend;
use report::Report;
use scenarios::Plan;

/// The hidden flag of the child that runs the websocket scenario in a fresh process.
const WEBSOCKET_HERE: &str = "--websocket-in-this-process";

const SCENARIOS: [&str; 13] = [
    "send",
    "inbox",
    "history",
    "stats",
    "find-or-create",
    "websocket",
    "group-fanout",
    "cross-node",
    "search",
    "replies",
    "attachments",
    "notifications",
    "erase",
];

struct Args {
    stores: Vec<Backend>,
    scenarios: Vec<&'static str>,
    quick: bool,
    out: PathBuf,
    /// Run the websocket scenario in this process (the child of a fresh-process run).
    websocket_here: bool,
}

const USAGE: &str = "usage: chat-bench --store sled|postgres|all --scenario NAME|all [--quick] [--out DIR]\n\
    scenarios: send, inbox, history, stats, find-or-create, websocket, group-fanout, cross-node, search, replies, attachments, \
    notifications, erase";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        stores: vec![Backend::Sled, Backend::Postgres],
        scenarios: SCENARIOS.to_vec(),
        quick: false,
        out: PathBuf::from("target/bench"),
        websocket_here: false,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--quick" => args.quick = true,
            WEBSOCKET_HERE => args.websocket_here = true,
            "--store" => {
                args.stores = match iter.next().as_deref() {
                    Some("sled") => vec![Backend::Sled],
                    Some("postgres") => vec![Backend::Postgres],
                    Some("all") => vec![Backend::Sled, Backend::Postgres],
                    other => return Err(format!("unknown store {other:?}")),
                }
            }
            "--scenario" => {
                let value = iter.next().ok_or("--scenario needs a value")?;
                args.scenarios = if value == "all" {
                    SCENARIOS.to_vec()
                } else {
                    value
                        .split(',')
                        .map(|name| {
                            SCENARIOS
                                .iter()
                                .copied()
                                .find(|known| *known == name)
                                .ok_or_else(|| format!("unknown scenario {name:?}"))
                        })
                        .collect::<Result<_, _>>()?
                };
            }
            "--out" => args.out = PathBuf::from(iter.next().ok_or("--out needs a value")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// Runs the websocket scenario in a fresh `chat-bench` process per client count and merges
/// the results, so that the server's memory per connection is not hidden by memory that
/// earlier scenarios or counts freed and the allocator hands out again.
async fn websocket_in_fresh_process(backend: Backend, args: &Args, plan: &Plan, report: &mut Report) {
    for &count in &plan.ws_clients {
        let out = args.out.join(format!("websocket-{}-{count}", backend.name()));
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut command = tokio::process::Command::new(exe);
        command.args([
            "--store",
            backend.name(),
            "--scenario",
            "websocket",
            WEBSOCKET_HERE,
            "--out",
        ]);
        command.arg(&out).env("BENCH_WS_CLIENTS", count.to_string());
        if args.quick {
            command.arg("--quick");
        }
        let status = command.status().await.expect("starting the websocket scenario");
        assert!(status.success(), "the websocket scenario failed: {status}");
        let json = std::fs::read_to_string(out.join("results.json")).expect("the websocket results");
        let child: Report = serde_json::from_str(&json).expect("websocket results as JSON");
        report.rows.extend(child.rows);
        report.targets.extend(child.targets);
        report.points.extend(child.points);
        report
            .notes
            .extend(child.notes.into_iter().filter(|note| !note.starts_with("whole run")));
        let _ = std::fs::remove_dir_all(&out);
    }
}

fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {model}")
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let child = raw.first().map(String::as_str);
    if child == Some(ws_clients::CHILD_COMMAND) || child == Some(ws_clients::ECHO_COMMAND) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building the tokio runtime");
        if child == Some(ws_clients::CHILD_COMMAND) {
            runtime.block_on(ws_clients::run_child(&raw[1..]));
        } else {
            runtime.block_on(ws_clients::run_echo());
        }
        return;
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let started = Instant::now();
    let data_dir = args.out.join("data");
    std::fs::create_dir_all(&data_dir).expect("creating the output directory");
    let plan = Plan::new(args.quick, data_dir.clone());
    let mut report = Report {
        machine: machine(),
        quick: args.quick,
        ..Report::default()
    };
    if !args.websocket_here {
        println!(
            "chat-bench on {} ({} mode)",
            report.machine,
            if args.quick { "quick" } else { "full" }
        );
    }
    for &scenario in &args.scenarios {
        if scenario == "cross-node" {
            let began = Instant::now();
            cross_node::run(args.quick, &mut report).await;
            println!("-- cross-node took {:.1} s", began.elapsed().as_secs_f64());
            continue;
        }
        for &backend in &args.stores {
            let began = Instant::now();
            match scenario {
                "send" => send::send(backend, &plan, &mut report).await,
                "inbox" => scenarios::inbox(backend, &plan, &mut report).await,
                "history" => scenarios::history(backend, &plan, &mut report).await,
                "stats" => scenarios::stats(backend, &plan, &mut report).await,
                "find-or-create" => scenarios::find_or_create(backend, &plan, &mut report).await,
                "group-fanout" => group_fanout::group_fanout(backend, &plan, args.quick, &mut report).await,
                "search" => search::search(backend, &plan, &mut report).await,
                "replies" => replies::replies(backend, &plan, &mut report).await,
                "attachments" => attachments::attachments(backend, &plan, &mut report).await,
                "notifications" => notifications::notifications(backend, &plan, args.quick, &mut report).await,
                "erase" => erase::erase(backend, &plan, args.quick, &mut report).await,
                _ if args.websocket_here => scenarios::websocket(backend, &plan, &mut report).await,
                _ => websocket_in_fresh_process(backend, &args, &plan, &mut report).await,
            }
            println!(
                "-- {scenario} on {} took {:.1} s",
                backend.name(),
                began.elapsed().as_secs_f64()
            );
        }
    }
    report
        .notes
        .push(format!("whole run: {:.0} s", started.elapsed().as_secs_f64()));
    scenarios::clean_data(&data_dir);
    report.write(&args.out).expect("writing the results");
    if args.websocket_here {
        return;
    }
    println!("\n{}", report.markdown());
    println!(
        "written: {}/BENCHMARKS.md, results.json, latency-vs-size.svg",
        args.out.display()
    );
}

#[cfg(test)]
mod tests {
    /// The crate's modules never import each other in a cycle.
    #[test]
    fn modules_do_not_import_each_other_in_a_cycle() {
        chat_core::testing::module_graph::assert_no_import_cycles(env!("CARGO_MANIFEST_DIR"));
    }
}
