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
    /// Print SLO status as a table, read over the gRPC API (sloop.v1.SloService).
    /// Exits 1 when a listed SLO's error budget is exhausted or its page alert
    /// fires (a deploy gate; with `--segments`, also when one of its segments
    /// pages), 2 when the status cannot be read.
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
    /// Print each SLO's status as it changes, one line per change (the status
    /// first, then whenever any figure changes), from the gRPC API's Watch. Runs
    /// until interrupted (exit 0) or sloop stops (exit 0); exits 2 when the
    /// endpoint cannot be reached or the stream breaks.
    Watch {
        /// The admin address of a running sloop (service.telemetry.metrics.address).
        #[arg(long, default_value = "http://127.0.0.1:8888")]
        endpoint: String,
        /// Print each change as a JSON line (the status as `GET /api/v1/slos/{name}`
        /// gives it, or `{"removed": NAME}`) instead of a line of text.
        #[arg(long)]
        json: bool,
        /// How often sloop looks for changes (e.g. 500ms, 5s; 100ms to 60s).
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        /// SLOs to watch (default: all).
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
            command:
                SloCommand::Watch {
                    endpoint,
                    json,
                    interval,
                    names,
                },
        } => slo_watch(&endpoint, json, interval, names),
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
    use sloop::api::v1::ListRequest;
    use sloop::processors::slo::status::{gate_failures, render_table, segment_gate_failures, SloStatus};
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let fetched: Result<Vec<SloStatus>, String> = runtime.block_on(async {
        let mut client = slo_client(endpoint, Some(std::time::Duration::from_secs(10))).await?;
        let response = client
            .list(ListRequest {})
            .await
            .map_err(|status| rpc_failure(endpoint, "List", &status))?;
        Ok(response.into_inner().slos.into_iter().map(SloStatus::from).collect())
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

/// A client of the sloop.v1 API at the admin address `endpoint` (`http://host:port`,
/// or `host:port`), connected: an unreachable endpoint is an error naming it.
/// `timeout` bounds each call (a Watch needs none).
async fn slo_client(
    endpoint: &str,
    timeout: Option<std::time::Duration>,
) -> Result<sloop::api::v1::slo_service_client::SloServiceClient<tonic::transport::Channel>, String> {
    let uri = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("http://{endpoint}")
    };
    let mut target = tonic::transport::Endpoint::from_shared(uri)
        .map_err(|e| format!("endpoint {endpoint:?} is not a URL: {}", error_chain(&e)))?
        .connect_timeout(std::time::Duration::from_secs(5));
    if let Some(timeout) = timeout {
        target = target.timeout(timeout);
    }
    let channel = target
        .connect()
        .await
        .map_err(|e| format!("cannot reach {endpoint}: {}", error_chain(&e)))?;
    Ok(sloop::api::v1::slo_service_client::SloServiceClient::new(channel))
}

/// A failed call, for the user: what was asked of whom, and what came back.
fn rpc_failure(endpoint: &str, method: &str, status: &tonic::Status) -> String {
    let mut message = format!(
        "{endpoint} answered sloop.v1.SloService/{method} with {:?}",
        status.code()
    );
    if !status.message().is_empty() {
        message.push_str(": ");
        message.push_str(status.message());
    }
    if let Some(source) = std::error::Error::source(status) {
        message.push_str(" (");
        message.push_str(&error_chain(source));
        message.push(')');
    }
    message
}

/// An error and its sources, `outer: inner: innermost` (tonic's transport error
/// alone says only "transport error").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.ends_with(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

fn slo_watch(endpoint: &str, json: bool, interval: std::time::Duration, names: Vec<String>) -> ExitCode {
    use std::io::Write;

    use sloop::api::v1::{watch_response::Change, WatchRequest};
    use sloop::processors::slo::status::{render_change, SloStatus};
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let watched: Result<(), String> = runtime.block_on(async {
        let mut client = slo_client(endpoint, None).await?;
        let request = WatchRequest {
            names,
            min_interval_ms: Some(u32::try_from(interval.as_millis()).unwrap_or(u32::MAX)),
        };
        let mut stream = client
            .watch(request)
            .await
            .map_err(|status| rpc_failure(endpoint, "Watch", &status))?
            .into_inner();
        loop {
            let message = tokio::select! {
                message = stream.message() => message,
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            let change = match message {
                Ok(Some(response)) => response.change,
                Ok(None) => {
                    eprintln!("{endpoint} ended the watch (sloop stopped)");
                    return Ok(());
                }
                Err(status) => return Err(rpc_failure(endpoint, "Watch", &status)),
            };
            let line = match change {
                Some(Change::Status(status)) => {
                    let status = SloStatus::from(status);
                    if json {
                        serde_json::to_string(&status).map_err(|e| e.to_string())?
                    } else {
                        render_change(&status, std::time::SystemTime::now())
                    }
                }
                Some(Change::Removed(name)) => {
                    if json {
                        serde_json::json!({ "removed": name }).to_string()
                    } else {
                        format!(
                            "{} {name} removed",
                            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                        )
                    }
                }
                // A change of a kind newer than this client.
                None => continue,
            };
            // A closed stdout (`| head -1`) ends the watch, without a panic.
            if writeln!(std::io::stdout().lock(), "{line}").is_err() {
                return Ok(());
            }
        }
    });
    match watched {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
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
