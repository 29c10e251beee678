//! Results: the printed table, BENCHMARKS.md-ready markdown, JSON and an SVG chart.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::measure::Measured;

/// One measured case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// `sled` or `postgres`.
    pub store: String,
    /// What was measured.
    pub case: String,
    /// Operations counted.
    pub ops: usize,
    /// Operations per second (when throughput matters).
    pub ops_per_sec: Option<f64>,
    /// Median latency, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
    /// Anything else (ratios, memory).
    pub note: String,
}

/// A target of the issue, met or not.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    /// `sled` or `postgres`.
    pub store: String,
    /// What is compared.
    pub name: String,
    /// The measured value (NaN when it could not be measured, written as `null`).
    #[serde(deserialize_with = "nan_if_null")]
    pub value: f64,
    /// The goal, as text.
    pub goal: String,
    /// Whether it is met.
    pub met: bool,
}

/// A point of the latency-vs-size chart.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Point {
    /// Series name, e.g. `sled inbox`.
    pub series: String,
    /// Data size (conversations or messages).
    pub size: u64,
    /// p99 latency, ms.
    #[serde(deserialize_with = "nan_if_null")]
    pub p99_ms: f64,
}

/// Reads back a float that JSON wrote as `null` (NaN and infinities) as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// Everything a run produced.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// The machine.
    pub machine: String,
    /// Quick mode or full.
    pub quick: bool,
    /// Measured cases.
    pub rows: Vec<Row>,
    /// Targets.
    pub targets: Vec<Target>,
    /// Chart points.
    pub points: Vec<Point>,
    /// Sizes reduced or methods worth knowing.
    pub notes: Vec<String>,
}

impl Report {
    /// Adds a latency/throughput row.
    pub fn measured(&mut self, scenario: &str, store: &str, case: &str, m: &Measured, throughput: bool, note: String) {
        let row = Row {
            scenario: scenario.to_owned(),
            store: store.to_owned(),
            case: case.to_owned(),
            ops: m.ops,
            ops_per_sec: throughput.then(|| m.ops_per_sec()),
            p50_ms: Some(m.p50()),
            p99_ms: Some(m.p99()),
            note,
        };
        println!("{}", row_line(&row));
        self.rows.push(row);
    }

    /// Adds a row with a note only.
    pub fn note_row(&mut self, scenario: &str, store: &str, case: &str, note: String) {
        let row = Row {
            scenario: scenario.to_owned(),
            store: store.to_owned(),
            case: case.to_owned(),
            ops: 0,
            ops_per_sec: None,
            p50_ms: None,
            p99_ms: None,
            note,
        };
        println!("{}", row_line(&row));
        self.rows.push(row);
    }

    /// Records a target: `value <= goal` when `at_most`, else `value >= goal`.
    pub fn target(&mut self, store: &str, name: &str, value: f64, goal: f64, at_most: bool) {
        let met = if at_most { value <= goal } else { value >= goal };
        let goal = format!("{} {goal}", if at_most { "<=" } else { ">=" });
        println!(
            "  target [{store}] {name}: {value:.2} (goal {goal}) -> {}",
            if met { "met" } else { "NOT met" }
        );
        self.targets.push(Target {
            store: store.to_owned(),
            name: name.to_owned(),
            value,
            goal,
            met,
        });
    }

    /// The markdown section for BENCHMARKS.md.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Machine: {}. Mode: {}. Load generator and server share the machine, so compare ratios \
             measured in the same run rather than absolute figures.\n",
            self.machine,
            if self.quick { "--quick" } else { "full" }
        );
        out.push_str("| scenario | store | case | ops | ops/s | p50 ms | p99 ms | note |\n");
        out.push_str("|---|---|---|---:|---:|---:|---:|---|\n");
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                row.scenario,
                row.store,
                row.case,
                row.ops,
                opt(row.ops_per_sec, 0),
                opt(row.p50_ms, 3),
                opt(row.p99_ms, 3),
                row.note
            );
        }
        out.push_str("\n| target | store | measured | goal | result |\n|---|---|---:|---|---|\n");
        for target in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {} | {} |",
                target.name,
                target.store,
                target.value,
                target.goal,
                if target.met { "met" } else { "**not met**" }
            );
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }

    /// Writes `results.json`, `BENCHMARKS.md` and `latency-vs-size.svg` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("results.json"), json)?;
        std::fs::write(dir.join("BENCHMARKS.md"), self.markdown())?;
        std::fs::write(dir.join("latency-vs-size.svg"), self.svg())?;
        Ok(())
    }

    /// A log-log chart of p99 latency against data size, one line per series.
    pub fn svg(&self) -> String {
        let (width, height, left, right, top, bottom) = (760.0, 440.0, 70.0, 200.0, 30.0, 50.0);
        let mut series: Vec<&str> = self.points.iter().map(|p| p.series.as_str()).collect();
        series.sort_unstable();
        series.dedup();
        let valid = |p: &&Point| p.size > 0 && p.p99_ms.is_finite() && p.p99_ms > 0.0;
        let xs: Vec<f64> = self
            .points
            .iter()
            .filter(valid)
            .map(|p| (p.size as f64).log10())
            .collect();
        let ys: Vec<f64> = self.points.iter().filter(valid).map(|p| p.p99_ms.log10()).collect();
        let (x0, x1) = bounds(&xs);
        let (y0, y1) = bounds(&ys);
        let (x0, x1, y0, y1) = (x0.floor(), x1.ceil(), y0.floor(), y1.ceil());
        let plot_w = width - left - right;
        let plot_h = height - top - bottom;
        let sx = |x: f64| left + (x - x0) / (x1 - x0).max(1e-9) * plot_w;
        let sy = |y: f64| top + plot_h - (y - y0) / (y1 - y0).max(1e-9) * plot_h;
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
             font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{left}\" y=\"18\" font-size=\"14\">p99 latency vs data size (log-log; flat = cost independent of size)</text>\n"
        );
        let mut decade = x0;
        while decade <= x1 + 1e-9 {
            let x = sx(decade);
            let _ = writeln!(
                out,
                "<line x1=\"{x}\" y1=\"{top}\" x2=\"{x}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">1e{decade}</text>",
                top + plot_h,
                top + plot_h + 16.0
            );
            decade += 1.0;
        }
        let mut decade = y0;
        while decade <= y1 + 1e-9 {
            let y = sy(decade);
            let _ = writeln!(
                out,
                "<line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} ms</text>",
                left + plot_w,
                left - 6.0,
                y + 4.0,
                10f64.powf(decade)
            );
            decade += 1.0;
        }
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">conversations in the inbox / messages in the conversation</text>",
            left + plot_w / 2.0,
            height - 10.0
        );
        const COLORS: [&str; 8] = [
            "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
        ];
        for (index, name) in series.iter().enumerate() {
            let color = COLORS[index % COLORS.len()];
            let mut points: Vec<&Point> = self.points.iter().filter(valid).filter(|p| p.series == *name).collect();
            points.sort_by_key(|p| p.size);
            let path: Vec<String> = points
                .iter()
                .map(|p| format!("{:.1},{:.1}", sx((p.size as f64).log10()), sy(p.p99_ms.log10())))
                .collect();
            let _ = writeln!(
                out,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
                path.join(" ")
            );
            for p in &points {
                let _ = writeln!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                    sx((p.size as f64).log10()),
                    sy(p.p99_ms.log10())
                );
            }
            let ly = top + 16.0 * index as f64 + 10.0;
            let lx = left + plot_w + 12.0;
            let _ = writeln!(
                out,
                "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">{name}</text>",
                lx + 18.0,
                lx + 22.0,
                ly + 4.0
            );
        }
        out.push_str("</svg>\n");
        out
    }
}

fn bounds(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if min.is_finite() && max.is_finite() {
        if max - min < 1e-9 {
            (min - 1.0, max + 1.0)
        } else {
            (min, max)
        }
    } else {
        (0.0, 1.0)
    }
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => String::new(),
    }
}

fn row_line(row: &Row) -> String {
    format!(
        "{:<14} {:<9} {:<44} ops={:<7} ops/s={:<9} p50={:<8} p99={:<8} {}",
        row.scenario,
        row.store,
        row.case,
        row.ops,
        opt(row.ops_per_sec, 0),
        opt(row.p50_ms, 3),
        opt(row.p99_ms, 3),
        row.note
    )
}
