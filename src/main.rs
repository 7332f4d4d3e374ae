//! The `sloop` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use sloop::config::Config;

// With `--features mimalloc` or `--features jemalloc`: that allocator instead of the
// system's, inside the counter below. Decoding OTLP allocates once per string and
// attribute; with glibc about a fifth of the passthrough pipeline's CPU goes to
// malloc/free. BENCHMARKS.md ("Allocation diet and allocators (issue 14)") has each
// one's CPU and RSS.
#[cfg(all(feature = "mimalloc", feature = "jemalloc"))]
compile_error!("choose one global allocator: the features mimalloc and jemalloc exclude each other");
#[cfg(feature = "mimalloc")]
type Inner = mimalloc::MiMalloc;
#[cfg(feature = "mimalloc")]
const INNER: Inner = mimalloc::MiMalloc;
#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
type Inner = tikv_jemallocator::Jemalloc;
#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
const INNER: Inner = tikv_jemallocator::Jemalloc;
#[cfg(not(any(feature = "mimalloc", feature = "jemalloc")))]
type Inner = std::alloc::System;
#[cfg(not(any(feature = "mimalloc", feature = "jemalloc")))]
const INNER: Inner = std::alloc::System;

/// The allocator (glibc's, mimalloc or jemalloc) wrapped in a counter of the bytes it holds for
/// the program: live heap bytes, which fall when sloop frees memory, unlike RSS (glibc
/// keeps freed pages). `memory_limiter` measures this; see its docs. No limit is set
/// here: the counter only counts (one atomic add per allocation and per free).
#[global_allocator]
static ALLOCATOR: cap::Cap<Inner> = cap::Cap::new(INNER, usize::MAX);

/// Live heap bytes, for `memory_limiter`.
fn live_heap_bytes() -> u64 {
    ALLOCATOR.allocated() as u64
}

/// An OpenTelemetry-Collector-style telemetry pipeline with SLOs at its heart.
#[derive(Parser)]
#[command(name = "sloop", version, about)]
struct Cli {
    /// Config file (YAML, Collector shape). Repeat to merge several, later ones win.
    #[arg(long = "config", short = 'c', global = true, value_name = "FILE")]
    config: Vec<PathBuf>,

    /// Reload when a config file's contents change (as on SIGHUP, which always
    /// reloads): an invalid config is refused and the running pipelines keep running.
    #[arg(long)]
    watch_config: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipelines (the default).
    Run,
    /// Check the config and print every problem with its path; exit non-zero if any.
    Validate,
    /// Service level objectives of a running sloop.
    Slo {
        #[command(subcommand)]
        command: SloCommand,
    },
    /// Send generated OTLP trace traffic to a receiver and report throughput,
    /// latency and errors. Exits 0 when every span was accepted, 1 when any
    /// request failed or spans were rejected, 2 when it cannot start.
    Loadgen(sloop::loadgen::LoadgenArgs),
    /// Write Prometheus recording and alerting rules (Sloth-compatible names) for
    /// every SLO in the config, computed from the `slo_events_total` counters summed
    /// across replicas. Exits 1 when the config is invalid or defines no SLO, 2 when
    /// the output cannot be written.
    Rules(RulesArgs),
    /// Check SLIs against a file of sample events and the verdict each must get
    /// (good, bad or none); prints a diff per wrong verdict. Exits 0 when all
    /// hold, 1 on any mismatch, 2 when the test file or config cannot be used.
    Test(sloop::slitest::TestArgs),
}

#[derive(clap::Args)]
struct RulesArgs {
    /// Write here instead of to stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Wrap the groups as Helm values for the sloop chart
    /// (`prometheusRule: {enabled: true, groups: [...]}`).
    #[arg(long)]
    helm_values: bool,
    /// `sloth_service` label, and the first part of `sloth_id` (`<service>-<slo name>`).
    #[arg(long, default_value = "sloop")]
    service: String,
    /// The name `slo.events` has in Prometheus (the default is the OpenTelemetry
    /// translation with suffixes: `slo_events_total`).
    #[arg(long, default_value = "slo_events_total", value_name = "NAME")]
    events_metric: String,
}

#[derive(Subcommand)]
enum SloCommand {
    /// Print SLO status as a table. Exits 1 when a listed SLO's error budget is
    /// exhausted or its page alert fires (a deploy gate; with `--segments`, also
    /// when one of its segments pages), 2 when the status cannot be read.
    Status {
        /// The admin address of a running sloop (service.telemetry.metrics.address).
        #[arg(long, default_value = "http://127.0.0.1:8888")]
        endpoint: String,
        /// Print the JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Gate on segments too: exit 1 also when a group (`group_by`) of a listed
        /// SLO pages.
        #[arg(long)]
        segments: bool,
        /// SLOs to show and gate on (default: all).
        names: Vec<String>,
    },
    /// Turn OpenSLO v1 documents (SLO, SLI, AlertPolicy, AlertCondition) into the
    /// sli and slo processors' config, printed to stdout. Exits 1 listing every part
    /// sloop cannot express.
    Import {
        /// OpenSLO YAML files (several documents each, separated by `---`).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Write the objectives of the config's sli and slo processors as OpenSLO v1
    /// documents, which `sloop slo import` reads back.
    Export {
        /// `spec.service` of the exported SLOs.
        #[arg(long, default_value = "sloop", value_name = "NAME")]
        service: String,
    },
    /// Why is it burning: the attribute values over-represented among an SLO's bad
    /// events, with the share of the error budget each spent, most over-represented
    /// first. Exits 2 when the answer cannot be read.
    Explain {
        /// The SLO.
        name: String,
        /// The window to explain (e.g. 1h, 1d; default: the SLO window). Rounded out
        /// to whole hours up to 1d, to whole UTC days beyond.
        #[arg(long)]
        window: Option<String>,
        /// The admin address of a running sloop (service.telemetry.metrics.address).
        #[arg(long, default_value = "http://127.0.0.1:8888")]
        endpoint: String,
        /// Print the JSON instead of a ranking.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    sloop::processors::memory_limiter::measure_live_heap_with(live_heap_bytes);
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Validate => validate(&cli.config),
        Command::Run => run(&cli.config, cli.watch_config),
        Command::Slo {
            command:
                SloCommand::Status {
                    endpoint,
                    json,
                    segments,
                    names,
                },
        } => slo_status(&endpoint, json, segments, &names),
        Command::Slo {
            command: SloCommand::Import { files },
        } => sloop::openslo::import_command(&files),
        Command::Slo {
            command: SloCommand::Export { service },
        } => sloop::openslo::export_command(&cli.config, &service),
        Command::Slo {
            command:
                SloCommand::Explain {
                    name,
                    window,
                    endpoint,
                    json,
                },
        } => slo_explain(&endpoint, &name, window.as_deref(), json),
        Command::Loadgen(args) => loadgen(&args),
        Command::Rules(args) => rules(&cli.config, &args),
        Command::Test(args) => sloop::slitest::run_command(&cli.config, &args),
    }
}

fn rules(paths: &[PathBuf], args: &RulesArgs) -> ExitCode {
    use sloop::rules;
    // The same check, and the same messages, as `validate`.
    let config = match Config::from_files(paths) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let options = rules::RulesOptions {
        service: args.service.clone(),
        events_metric: args.events_metric.clone(),
    };
    let generated = match rules::generate_for_config(&config, &options) {
        Ok(generated) => generated,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let source = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let yaml = if args.helm_values {
        rules::to_helm_values_yaml(&generated, &source)
    } else {
        rules::to_yaml(&generated, &source)
    };
    let yaml = match yaml {
        Ok(yaml) => yaml,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match &args.output {
        None => print!("{yaml}"),
        Some(path) => {
            if let Err(error) = std::fs::write(path, yaml) {
                eprintln!("error: cannot write {}: {error}", path.display());
                return ExitCode::from(2);
            }
            eprintln!(
                "wrote {} rule group(s) for {} SLO(s) to {}",
                generated.groups.len(),
                rules::objectives(&config).len(),
                path.display()
            );
        }
    }
    ExitCode::SUCCESS
}

fn validate(paths: &[PathBuf]) -> ExitCode {
    match Config::from_files(paths) {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("warning: {warning}");
            }
            println!(
                "configuration is valid: {} pipeline(s), {} receiver(s), {} processor(s), {} exporter(s)",
                config.pipelines.len(),
                config.receivers.len(),
                config.processors.len(),
                config.exporters.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprint!("{errors}");
            ExitCode::FAILURE
        }
    }
}

fn run(paths: &[PathBuf], watch: bool) -> ExitCode {
    // The same check as `validate`, before any port opens.
    let config = match Config::from_files(paths) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = sloop::telemetry::init_logs(&config.telemetry.logs) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    sloop::service::log_config_warnings(&config);
    let metrics = match sloop::telemetry::install_metrics_recorder() {
        Ok(handle) => Some(handle),
        Err(error) => {
            tracing::warn!(message = "Self-metrics disabled.", %error);
            None
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(message = "Cannot start the async runtime.", %error);
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(sloop::service::run(
        config,
        metrics,
        sloop::service::termination_signal(),
        sloop::service::Reload {
            paths: paths.to_vec(),
            on_sighup: true,
            watch,
        },
    )) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(message = "sloop could not start.", %error);
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn loadgen(args: &sloop::loadgen::LoadgenArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime.block_on(sloop::loadgen::run(args)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        print!("{}", report.table());
    }
    if report.all_accepted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn slo_status(endpoint: &str, json: bool, segments: bool, names: &[String]) -> ExitCode {
    use sloop::processors::slo::status::{gate_failures, render_table, segment_gate_failures, SloStatus};
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let base = endpoint.trim_end_matches('/');
    let fetched: Result<Vec<SloStatus>, String> = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        #[derive(serde::Deserialize)]
        struct List {
            slos: Vec<SloStatus>,
        }
        let response = client
            .get(format!("{base}/api/v1/slos"))
            .send()
            .await
            .map_err(|e| format!("cannot reach {base}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{base}/api/v1/slos answered {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading {base}/api/v1/slos: {e}"))?;
        let list: List = serde_json::from_slice(&body).map_err(|e| format!("unexpected answer from {base}: {e}"))?;
        Ok(list.slos)
    });
    let mut statuses = match fetched {
        Ok(statuses) => statuses,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if !names.is_empty() {
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| !statuses.iter().any(|s| &s.name == *n))
            .collect();
        if !missing.is_empty() {
            let known: Vec<&str> = statuses.iter().map(|s| s.name.as_str()).collect();
            eprintln!("error: no SLO named {missing:?} (known: {})", known.join(", "));
            return ExitCode::from(2);
        }
        statuses.retain(|s| names.contains(&s.name));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses).unwrap_or_default());
    } else {
        print!("{}", render_table(&statuses));
    }
    let mut failures = gate_failures(&statuses);
    if segments {
        failures.extend(segment_gate_failures(&statuses));
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        for failure in failures {
            eprintln!("gate: {failure}");
        }
        ExitCode::FAILURE
    }
}

fn slo_explain(endpoint: &str, name: &str, window: Option<&str>, json: bool) -> ExitCode {
    use sloop::processors::slo::explain::{render_explanation, Explanation};
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let fetched: Result<Explanation, String> = runtime.block_on(async {
        // An address without a scheme (127.0.0.1:8888) is the admin server's plain HTTP.
        let base = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("http://{endpoint}")
        };
        let mut url = reqwest::Url::parse(&base).map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
        url.path_segments_mut()
            .map_err(|()| format!("endpoint {endpoint:?} cannot take a path"))?
            .pop_if_empty()
            .extend(["api", "v1", "slos", name, "explain"]);
        if let Some(window) = window {
            url.query_pairs_mut().append_pair("window", window);
        }
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("cannot reach {base}: {e}"))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| format!("reading {url}: {e}"))?;
        if !status.is_success() {
            #[derive(serde::Deserialize)]
            struct Failure {
                error: String,
            }
            return Err(match serde_json::from_slice::<Failure>(&body) {
                Ok(failure) => failure.error,
                Err(_) => format!("{url} answered {status}"),
            });
        }
        serde_json::from_slice(&body).map_err(|e| format!("unexpected answer from {url}: {e}"))
    });
    match fetched {
        Ok(explanation) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&explanation).unwrap_or_default());
            } else {
                print!("{}", render_explanation(&explanation));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
