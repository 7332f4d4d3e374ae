//! `sloop-bench`: the end-to-end benchmark harness (see `integration_tests::bench`).
//!
//! ```text
//! ./scripts/bench                      # builds release binaries, then runs this
//! sloop-bench --runs 3 --duration 10s  # what ./scripts/bench runs
//! sloop-bench --scenarios passthrough,persistent,persistent-fsync --no-threads --overload 0s
//!                                      # persistent exporter queues against the in-memory one
//! sloop-bench floor --listen 127.0.0.1:4317 --backend 127.0.0.1:4319   # the floor alone
//! sloop-bench --runs 3 --pin filelog --lines 2000000   # nginx lines/s through filelog, sli, slo
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use integration_tests::bench::{self, Compression, Options, Pinning, Scenario};

#[derive(Parser)]
#[command(about = "Measures sloop against the decode/re-encode floor")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Rounds; each measures every scenario once (report: median, min–max).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Length of each load phase.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Offered rate for the CPU, memory and latency figures, in spans/s.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Requests in flight from the generator.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Spans per trace in the generated traffic.
    #[arg(long, default_value_t = 5)]
    spans_per_trace: u32,
    /// Scenarios to run (default: all; `rotel` only when --rotel is given).
    #[arg(long, value_enum, value_delimiter = ',')]
    scenarios: Vec<Scenario>,
    /// Exporter compressions; each scenario runs with those it supports (the floor
    /// none, Rotel none and gzip).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "none,gzip,zstd")]
    compression: Vec<Compression>,
    /// Rotel's `rotel-agent` binary, for the `rotel` scenario (`./scripts/bench`
    /// installs `rotel==0.0.1a15` into target/bench-venv and passes it).
    #[arg(long, env = "SLOOP_BENCH_ROTEL")]
    rotel: Option<PathBuf>,
    /// Pin the collector to one CPU and the load side (this harness, its sinks and
    /// `sloop loadgen`) to another: the main phases run one worker thread on the
    /// collector's core, the threads comparison two worker threads on both cores.
    #[arg(long)]
    pin: bool,
    /// Skip the one-worker-thread saturation runs.
    #[arg(long)]
    no_threads: bool,
    /// Length of the overload check; 0s skips it.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    overload: Duration,
    /// Also write the raw results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the floor forwarder: decode each trace request and re-encode it to the backend.
    Floor {
        /// Where to listen for OTLP/gRPC.
        #[arg(long)]
        listen: SocketAddr,
        /// The backend, `host:port`.
        #[arg(long)]
        backend: String,
    },
    /// Lines per second of an nginx access log through filelog → sli → slo, on one
    /// core with `--pin` (`integration_tests::bench::filelog`).
    Filelog {
        /// Lines in the log.
        #[arg(long, default_value_t = 2_000_000)]
        lines: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Floor { listen, backend }) = &cli.command {
        return match runtime.block_on(bench::floor::serve(*listen, backend)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Filelog { lines }) = &cli.command {
        return filelog(&runtime, &cli, *lines);
    }
    let harness_exe = match std::env::current_exe() {
        Ok(path) => path,
        Err(error) => {
            eprintln!("error: cannot find my own executable: {error}");
            return ExitCode::from(2);
        }
    };
    let pin = if cli.pin {
        match Pinning::first_two() {
            Ok(pin) => Some(pin),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let scenarios = if cli.scenarios.is_empty() {
        let mut all = Scenario::ALL.to_vec();
        if cli.rotel.is_none() {
            eprintln!("note: no --rotel given, so the rotel scenario is left out");
            all.retain(|s| *s != Scenario::Rotel);
        }
        all
    } else {
        cli.scenarios.clone()
    };
    let options = Options {
        runs: cli.runs.max(1),
        duration: cli.duration,
        fixed_rate: cli.rate,
        concurrency: cli.concurrency.max(1),
        spans_per_trace: cli.spans_per_trace.max(1),
        scenarios,
        threads: !cli.no_threads,
        overload: (!cli.overload.is_zero()).then_some(cli.overload),
        harness_exe,
        compressions: cli.compression.clone(),
        rotel: cli.rotel.clone(),
        pin,
    };
    let results = match runtime.block_on(bench::run(&options)) {
        Ok(results) => results,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", bench::report::markdown(&results, options.fixed_rate));
    if let Some(path) = &cli.json {
        let json = serde_json::to_string_pretty(&results).unwrap_or_default();
        if let Err(error) = std::fs::write(path, json) {
            eprintln!("error: writing {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// `sloop-bench filelog`: `--runs` runs, each pinned to the collector's core with
/// `--pin`; prints the table and writes `--json`.
fn filelog(runtime: &tokio::runtime::Runtime, cli: &Cli, lines: u64) -> ExitCode {
    let cpu = if cli.pin {
        match Pinning::first_two().and_then(|pin| pin.pin_harness().map(|()| pin.collector)) {
            Ok(cpu) => Some(cpu),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let sloop = bench::filelog::sloop_path();
    let mut results = Vec::new();
    for run in 1..=cli.runs.max(1) {
        match runtime.block_on(bench::filelog::run(&sloop, lines, cpu)) {
            Ok(result) => {
                eprintln!("run {run}: {:.0} lines/s", result.lines_per_second);
                results.push(result);
            }
            Err(error) => {
                eprintln!("error: run {run}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    print!("{}", bench::filelog::markdown(&results));
    if let Some(path) = &cli.json {
        let json = serde_json::to_string_pretty(&results).unwrap_or_default();
        if let Err(error) = std::fs::write(path, json) {
            eprintln!("error: writing {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
