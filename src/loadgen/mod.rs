//! `sloop loadgen` — generates realistic OTLP trace traffic, like the Collector's
//! `telemetrygen`, to benchmark a pipeline or drive SLO scenarios.
//!
//! ```text
//! # flat out for 10 s over gRPC to a local sloop (or any OTLP receiver)
//! sloop loadgen
//! # 20 000 spans/s over HTTP, 5% errors, p50 80 ms / p99 900 ms, for a minute
//! sloop loadgen --protocol http --rate 20000 --error-ratio 0.05 --latency-ms 80,900 --duration 1m
//! # exactly 100 requests of 50 spans, machine-readable result
//! sloop loadgen --count 100 --spans-per-request 50 --json
//! ```
//!
//! Each request holds `--spans-per-request` spans from one service (`--services`
//! distinct `service.name`s over the pool, a resource with six attributes). A
//! trace is a SERVER span for one of `--operations` (`GET /`, with ~13 attributes
//! of mixed types: `http.response.status_code`, `http.route`, `app.cache_hit`,
//! `app.cart.value`, ...) and `--spans-per-trace - 1` CLIENT children (database and
//! cache calls). Root span durations follow a log-normal distribution fitted to
//! `--latency-ms p50,p99`; `--error-ratio` of root spans get status ERROR and
//! `http.response.status_code` 500. Timestamps are "now", so an `slo` processor
//! counts the spans in its current window; with `--backfill 20m` request `k` is
//! stamped `k mod 20` minutes before now, so the spans fill the last 20 minutes of
//! an SLO's history at once (e.g. to look at the status page's charts).
//!
//! The generator is never the bottleneck: a pool of requests is encoded once and
//! every send copies one and patches fresh trace/span IDs and timestamps in place
//! (see [`generate`]). `--concurrency` senders each have their own connection; `--rate`
//! spaces requests evenly (spans per second, 0 = flat out).
//!
//! The result ([`Report`]) is printed as a table, or as JSON with `--json`; the
//! exit code is 0 when every span was accepted and 1 otherwise. While running, a
//! progress line is written to stderr once a second if stderr is a terminal.
//!
//! From code:
//! ```no_run
//! # async fn example() -> Result<(), String> {
//! use clap::Parser;
//! use sloop::loadgen::{run, LoadgenArgs};
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     loadgen: LoadgenArgs,
//! }
//! let cli = Cli::parse_from(["loadgen", "--count", "10", "--endpoint", "http://127.0.0.1:4317"]);
//! let report = run(&cli.loadgen).await?;
//! assert!(report.all_accepted(), "{}", report.table());
//! # Ok(())
//! # }
//! ```

pub mod generate;
pub mod latency;
pub mod report;
pub mod send;
#[cfg(test)]
mod tests;

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

pub use generate::{Operation, RequestPool, TrafficShape};
pub use latency::LatencyDistribution;
pub use report::{LatencySummary, Report, SenderStats};
pub use send::{due_after, TraceClient};

use report::Counts;

/// Transport for `--protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP/gRPC (default endpoint http://127.0.0.1:4317).
    Grpc,
    /// OTLP/HTTP with protobuf bodies to `/v1/traces` (default endpoint http://127.0.0.1:4318).
    Http,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
        }
    }

    fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://127.0.0.1:4317",
            Protocol::Http => "http://127.0.0.1:4318",
        }
    }
}

/// The flags of `sloop loadgen`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadgenArgs {
    /// Transport.
    #[arg(long, value_enum, default_value_t = Protocol::Grpc)]
    pub protocol: Protocol,
    /// Receiver address [default: http://127.0.0.1:4317 for grpc, http://127.0.0.1:4318 for http
    /// (POST /v1/traces)].
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Extra request header (gRPC metadata), `key=value`. Repeatable.
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// Compress requests with gzip.
    #[arg(long)]
    pub gzip: bool,
    /// Spans per second across all senders; 0 = as fast as the receiver takes them.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// How long to send [default: 10s, unless --count is given].
    #[arg(long, value_parser = crate::confmap::parse_duration, conflicts_with = "count")]
    pub duration: Option<Duration>,
    /// Send exactly this many requests instead of running for a duration.
    #[arg(long)]
    pub count: Option<u64>,
    /// Spans in each export request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub spans_per_request: u32,
    /// Spans in each trace: one SERVER root and CLIENT children.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub spans_per_trace: u32,
    /// Distinct services (service.name) sending.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub services: u32,
    /// Server operations (span names, `METHOD /route`), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "GET /,POST /checkout,GET /api/items")]
    pub operations: Vec<String>,
    /// Fraction of root spans with status ERROR and http.response.status_code 500.
    #[arg(long, default_value_t = 0.01, value_parser = parse_ratio)]
    pub error_ratio: f64,
    /// Root span duration percentiles `p50,p99` in milliseconds (log-normal).
    #[arg(long, value_name = "P50,P99", default_value = "50,300", value_parser = parse_latency)]
    pub latency_ms: (f64, f64),
    /// Spread the requests over this many past minutes (whole minutes): request
    /// `k` is stamped `k mod N` minutes before now [default: none, all now].
    #[arg(long, value_name = "DURATION", value_parser = parse_backfill)]
    pub backfill: Option<u64>,
    /// Timeout of one export request.
    #[arg(long, default_value = "10s", value_parser = crate::confmap::parse_duration)]
    pub timeout: Duration,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {text:?}")),
    }
}

fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("expected a number from 0 to 1, got {text:?}")),
    }
}

/// `--backfill`: a duration of whole minutes, at least 1m; the minutes.
fn parse_backfill(text: &str) -> Result<u64, String> {
    let duration = crate::confmap::parse_duration(text)?;
    if duration.as_secs() < 60 || duration.as_secs() % 60 != 0 || duration.subsec_nanos() != 0 {
        return Err(format!("expected whole minutes, at least 1m (e.g. 20m), got {text:?}"));
    }
    Ok(duration.as_secs() / 60)
}

/// The "now" request `k` is stamped with: `now_ns`, or with `--backfill N` (minutes)
/// `k mod N` minutes earlier.
pub fn stamp(now_ns: u64, k: u64, backfill_minutes: Option<u64>) -> u64 {
    match backfill_minutes {
        Some(n) if n > 0 => now_ns.saturating_sub((k % n) * 60_000_000_000),
        _ => now_ns,
    }
}

fn parse_latency(text: &str) -> Result<(f64, f64), String> {
    let parse = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0);
    match text.split_once(',') {
        Some((p50, p99)) => match (parse(p50), parse(p99)) {
            (Some(p50), Some(p99)) if p99 >= p50 => Ok((p50, p99)),
            _ => Err(format!("expected p50,p99 in ms with p99 >= p50 > 0, got {text:?}")),
        },
        None => Err(format!("expected p50,p99 in ms (e.g. 50,300), got {text:?}")),
    }
}

impl LoadgenArgs {
    /// The traffic shape these flags describe.
    pub fn shape(&self) -> TrafficShape {
        TrafficShape {
            services: self.services as usize,
            operations: self
                .operations
                .iter()
                .filter(|o| !o.trim().is_empty())
                .map(|o| Operation::parse(o))
                .collect(),
            spans_per_request: self.spans_per_request as usize,
            spans_per_trace: self.spans_per_trace as usize,
            error_ratio: self.error_ratio,
            latency: LatencyDistribution::from_percentiles(self.latency_ms.0, self.latency_ms.1),
        }
    }

    /// The endpoint, or the protocol's default.
    pub fn endpoint(&self) -> &str {
        self.endpoint
            .as_deref()
            .unwrap_or_else(|| self.protocol.default_endpoint())
    }
}

/// Distinct requests in the pool: up to 128, fewer for big requests (about 13 000
/// spans in all, a few MB), at least 2, and no more than `--count`.
fn pool_size(args: &LoadgenArgs) -> usize {
    let by_spans = (12_800 / args.spans_per_request as usize).clamp(2, 128);
    match args.count {
        Some(count) => by_spans.min(count.max(1) as usize),
        None => by_spans,
    }
}

/// Nanoseconds since the Unix epoch.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// State shared by the senders.
struct Run {
    pool: RequestPool,
    start: Instant,
    deadline: Option<Instant>,
    count: Option<u64>,
    spans_per_request: u64,
    rate: u64,
    backfill_minutes: Option<u64>,
    next_request: AtomicU64,
    requests_sent: AtomicU64,
    requests_ok: AtomicU64,
    requests_failed: AtomicU64,
    spans_sent: AtomicU64,
    spans_accepted: AtomicU64,
    spans_rejected: AtomicU64,
}

impl Run {
    fn counts(&self) -> Counts {
        Counts {
            requests_sent: self.requests_sent.load(Ordering::Relaxed),
            requests_ok: self.requests_ok.load(Ordering::Relaxed),
            requests_failed: self.requests_failed.load(Ordering::Relaxed),
            spans_sent: self.spans_sent.load(Ordering::Relaxed),
            spans_accepted: self.spans_accepted.load(Ordering::Relaxed),
            spans_rejected: self.spans_rejected.load(Ordering::Relaxed),
        }
    }
}

/// Runs the load as the flags say and returns the result. `Err` only when it
/// cannot start (bad endpoint, header or operations); failed requests are in the
/// report.
pub async fn run(args: &LoadgenArgs) -> Result<Report, String> {
    let shape = args.shape();
    if shape.operations.is_empty() {
        return Err("--operations lists no operation".into());
    }
    let pool = RequestPool::build(&shape, pool_size(args), &mut rand::rng())?;
    let endpoint = args.endpoint().to_string();
    // One client (for gRPC: one HTTP/2 connection) per sender, so the receiver
    // can spread the load over its cores as it would over many SDKs.
    let clients = (0..args.concurrency.max(1))
        .map(|_| TraceClient::new(args.protocol, &endpoint, &args.headers, args.gzip, args.timeout))
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let deadline = match (args.count, args.duration) {
        (Some(_), _) => None,
        (None, duration) => Some(start + duration.unwrap_or(Duration::from_secs(10))),
    };
    let run = Arc::new(Run {
        pool,
        start,
        deadline,
        count: args.count,
        spans_per_request: u64::from(args.spans_per_request),
        rate: args.rate,
        backfill_minutes: args.backfill,
        next_request: AtomicU64::new(0),
        requests_sent: AtomicU64::new(0),
        requests_ok: AtomicU64::new(0),
        requests_failed: AtomicU64::new(0),
        spans_sent: AtomicU64::new(0),
        spans_accepted: AtomicU64::new(0),
        spans_rejected: AtomicU64::new(0),
    });

    let done = Arc::new(AtomicBool::new(false));
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| tokio::spawn(progress(run.clone(), done.clone())));

    let senders: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(sender(run.clone(), client)))
        .collect();
    let mut merged = SenderStats::default();
    for sender in senders {
        let stats = sender.await.map_err(|e| format!("sender task failed: {e}"))?;
        merged.latencies_us.extend(stats.latencies_us);
        for (kind, n) in stats.errors {
            merged.count_error(kind, n);
        }
    }
    let elapsed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    if let Some(progress) = progress {
        let _ = progress.await;
    }
    Ok(Report::new(
        args.protocol.name(),
        &endpoint,
        elapsed,
        run.counts(),
        merged,
    ))
}

/// One sender: takes the next request number, waits for its slot under
/// `--rate`, sends, records; until `--count` or the deadline.
async fn sender(run: Arc<Run>, client: TraceClient) -> SenderStats {
    let mut stats = SenderStats::default();
    loop {
        let k = run.next_request.fetch_add(1, Ordering::Relaxed);
        if run.count.is_some_and(|count| k >= count) {
            break;
        }
        if let Some(after) = due_after(k, run.spans_per_request, run.rate) {
            let due = run.start + after;
            if run.deadline.is_some_and(|deadline| due >= deadline) {
                break;
            }
            tokio::time::sleep_until(due).await;
        }
        if run.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        let (body, spans) = run.pool.request(k, stamp(now_ns(), k, run.backfill_minutes));
        let spans = u64::from(spans);
        run.requests_sent.fetch_add(1, Ordering::Relaxed);
        run.spans_sent.fetch_add(spans, Ordering::Relaxed);
        let sent_at = Instant::now();
        let outcome = client.export(body).await;
        let micros = sent_at.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        stats.latencies_us.push(micros);
        match outcome {
            Ok(rejected) => {
                let rejected = rejected.min(spans);
                run.requests_ok.fetch_add(1, Ordering::Relaxed);
                run.spans_accepted.fetch_add(spans - rejected, Ordering::Relaxed);
                if rejected > 0 {
                    run.spans_rejected.fetch_add(rejected, Ordering::Relaxed);
                    stats.count_error("partial_success".into(), 1);
                }
            }
            Err(kind) => {
                run.requests_failed.fetch_add(1, Ordering::Relaxed);
                stats.count_error(kind, 1);
            }
        }
    }
    stats
}

/// Rewrites one stderr line with the running totals, once a second.
async fn progress(run: Arc<Run>, done: Arc<AtomicBool>) {
    let mut last_spans = 0u64;
    let mut last_at = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut stderr = std::io::stderr();
    while !done.load(Ordering::Relaxed) {
        ticker.tick().await;
        if last_at.elapsed() < Duration::from_secs(1) && !done.load(Ordering::Relaxed) {
            continue;
        }
        let counts = run.counts();
        let seconds = last_at.elapsed().as_secs_f64();
        let rate = (counts.spans_accepted - last_spans) as f64 / seconds.max(0.001);
        last_spans = counts.spans_accepted;
        last_at = Instant::now();
        let _ = write!(
            stderr,
            "\r{:>6.1}s  sent {} req / {} spans  accepted {} spans  refused {} req  {:.0} spans/s   ",
            run.start.elapsed().as_secs_f64(),
            counts.requests_sent,
            counts.spans_sent,
            counts.spans_accepted,
            counts.requests_failed,
            rate
        );
        let _ = stderr.flush();
    }
    let _ = writeln!(stderr);
}
