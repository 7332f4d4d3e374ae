//! The end-to-end benchmark harness behind `./scripts/bench` (binary `sloop-bench`).
//!
//! For every [`Scenario`] and every exporter [`Compression`] it supports, it starts
//! the collector under test as its own process — the real `sloop` binary, the
//! [`floor`] forwarder, or the peer, Rotel's `rotel-agent` ([`rotel`]) — exporting
//! into [`sink`]s run by the harness (which check the `grpc-encoding` they
//! receive), drives it with `sloop loadgen` (a third process) and measures, each
//! from a fresh collector process (with `--pin`, the collector on one core and the
//! load side on the other, see [`pin`]):
//!
//! * **fixed rate** (default 20 000 spans/s): CPU time of the collector process per
//!   span (from `/proc/<pid>/stat`, the load and the drain included), peak RSS
//!   (`VmHWM`), and end-to-end latency p99 (generator → sink);
//! * **saturation**: spans/s accepted flat out (with CPU per span and peak RSS of
//!   that phase's process too), with loss checked (every request
//!   answered OK, nothing refused or failed in sloop's own counters, and for the
//!   unsampled scenarios every span at the sink);
//! * **latency at half of that saturation**: p99;
//! * for the floor and passthrough, saturation again with one Tokio worker thread,
//!   to show what the second core buys;
//! * for passthrough and the persistent-queue scenarios, p99 at one *reference*
//!   rate, half of the same round's passthrough saturation, so that the latency a
//!   persistent queue adds is compared at equal load; and the bytes the collector
//!   wrote to files per span at the fixed rate (`/proc/<pid>/io`), with the peak
//!   size of the queue files;
//! * once, **overload**: flat out into a blackholed backend with a memory limit,
//!   sampling RSS and counting how clients were refused.
//!
//! Runs are interleaved (floor, a, b, c, floor, a, b, c, ...) so drift on a shared
//! machine hits every scenario alike; ratios to the floor, and of the persistent
//! scenarios to passthrough, are taken within each round and then summarised
//! (median, min–max).

pub mod filelog;
pub mod floor;
pub mod pin;
pub mod procfs;
pub mod report;
pub mod rotel;
pub mod scenarios;
pub mod sink;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use pin::{Pinning, Placement};
pub use report::Summary;
pub use scenarios::{Compression, Scenario};
pub use sink::Sink;

use crate::{free_port, metric_sum, sloop_bin, Sloop, SloopPorts};

/// Spans in each generated request (`sloop loadgen`'s default).
const SPANS_PER_REQUEST: u64 = 100;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rounds; each round measures every scenario once.
    pub runs: usize,
    /// Length of each load phase.
    pub duration: Duration,
    /// The fixed offered rate for CPU and memory, in spans/s.
    pub fixed_rate: u64,
    /// Requests in flight from the generator.
    pub concurrency: usize,
    /// Spans per trace in the generated traffic.
    pub spans_per_trace: u32,
    /// Which scenarios.
    pub scenarios: Vec<Scenario>,
    /// Also measure saturation with one worker thread.
    pub threads: bool,
    /// Also run the overload check, for this long.
    pub overload: Option<Duration>,
    /// The `sloop-bench` executable, to start the floor with.
    pub harness_exe: PathBuf,
    /// The exporters' compressions; each scenario runs with those it supports.
    pub compressions: Vec<Compression>,
    /// Rotel's `rotel-agent` binary, for [`Scenario::Rotel`].
    pub rotel: Option<PathBuf>,
    /// With `Some`, the collector runs on one core and the load side on another:
    /// the main phases with one worker thread on the collector's core, the threads
    /// comparison with two worker threads on both cores (see [`pin`]).
    pub pin: Option<Pinning>,
}

/// One scenario in one round.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Measurement {
    /// Collector CPU time per accepted span at the fixed rate, µs.
    pub cpu_us_per_span: f64,
    /// Spans the fixed-rate phase got accepted.
    pub fixed_rate_spans: u64,
    /// Peak RSS of the fixed-rate collector process, MiB.
    pub peak_rss_mib: f64,
    /// Latency p99 at the fixed rate, ms.
    pub p99_ms_at_fixed_rate: f64,
    /// Saturation throughput, spans/s accepted (and, unsampled, delivered).
    pub saturation_spans_per_s: f64,
    /// Whether the saturation phase lost nothing.
    pub saturation_lossless: bool,
    /// What was lost or refused at saturation, if anything.
    pub saturation_losses: String,
    /// Latency p99 at half the saturation rate, ms.
    pub p99_ms_at_half_saturation: f64,
    /// CPU cores the collector process kept busy at saturation (CPU time / wall time).
    pub saturation_cores: f64,
    /// Cores the harness itself (the sinks) kept busy at saturation: the backend
    /// shares the machine, so this is what it took from the collector.
    pub sink_cores_at_saturation: f64,
    /// The exporter's compression.
    pub compression: String,
    /// The CPUs the collector's threads could run on in the saturation phase.
    pub collector_cpus: String,
    /// Collector CPU time per accepted span at saturation, µs.
    pub cpu_us_per_span_at_saturation: f64,
    /// Peak RSS of the saturation phase's collector process, MiB.
    pub peak_rss_mib_at_saturation: f64,
    /// Requests the sink received at saturation, by `grpc-encoding`.
    pub sink_encodings: BTreeMap<String, u64>,
    /// Saturation with one worker thread, spans/s (floor and passthrough only,
    /// without `--pin`: the main phases then run two).
    pub saturation_one_thread: Option<f64>,
    /// Cores busy at saturation with one worker thread.
    pub saturation_one_thread_cores: Option<f64>,
    /// With `--pin` (the main phases then run one worker thread on one core):
    /// saturation with two worker threads on both cores, spans/s (floor and
    /// sloop's passthrough only).
    pub saturation_two_threads: Option<f64>,
    /// Cores busy at saturation with two worker threads on both cores.
    pub saturation_two_threads_cores: Option<f64>,
    /// Bytes the collector wrote to files per accepted span in the fixed-rate
    /// phase (`write_bytes` of `/proc/<pid>/io`; sloop scenarios only).
    pub written_bytes_per_span: Option<f64>,
    /// Largest total size of the queue files seen in the fixed-rate phase, MiB,
    /// sampled every 50 ms (persistent-queue scenarios only).
    pub peak_queue_files_mib: Option<f64>,
    /// The reference rate, spans/s offered: half of this round's passthrough
    /// saturation (passthrough and the persistent-queue scenarios only).
    pub reference_rate: Option<u64>,
    /// Spans/s accepted when offered the reference rate (the generator keeps at most
    /// `concurrency` requests in flight, so a collector that answers slowly gets less).
    pub reference_rate_accepted: Option<f64>,
    /// Latency p99 at the reference rate, ms.
    pub p99_ms_at_reference_rate: Option<f64>,
}

/// The overload check's outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overload {
    /// The configured `memory_limiter.limit_mib`.
    pub limit_mib: u64,
    /// Highest RSS sampled during the run, MiB.
    pub max_rss_mib: f64,
    /// RSS every 500 ms through the run, MiB.
    pub rss_mib_timeline: Vec<f64>,
    /// Offered rate (spans/s in sent requests), and as a multiple of passthrough saturation.
    pub offered_spans_per_s: f64,
    /// Requests answered OK.
    pub requests_ok: u64,
    /// Failed requests by kind (retryable refusals, timeouts, ...).
    pub errors: BTreeMap<String, u64>,
}

/// Everything one harness run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Results {
    /// `rounds[r][key]`, the key being [`Scenario::key`]: the scenario's name for
    /// compression `none`, `name/gzip` and `name/zstd` else.
    pub rounds: Vec<BTreeMap<String, Measurement>>,
    /// Whether the collectors were pinned (`--pin`), as `collector core / load core`.
    pub pinned: Option<String>,
    /// The overload check, if run.
    pub overload: Option<Overload>,
}

/// Runs the whole benchmark and returns the raw results. Progress goes to stderr.
pub async fn run(options: &Options) -> Result<Results, String> {
    let mut results = Results::default();
    if let Some(pin) = &options.pin {
        pin.pin_harness()?;
        results.pinned = Some(format!(
            "collector on CPU {}, load side on CPU {}",
            pin.collector, pin.load
        ));
    }
    if options.scenarios.contains(&Scenario::Rotel) && options.rotel.is_none() {
        return Err("the rotel scenario needs --rotel <rotel-agent> (or SLOOP_BENCH_ROTEL)".into());
    }
    // In `Scenario` order: passthrough before the persistent scenarios, whose
    // reference rate it sets.
    let mut scenarios = options.scenarios.clone();
    scenarios.sort();
    scenarios.dedup();
    let mut compressions = options.compressions.clone();
    compressions.sort();
    compressions.dedup();
    for round in 0..options.runs {
        let mut measured: BTreeMap<String, Measurement> = BTreeMap::new();
        for &scenario in &scenarios {
            for &compression in compressions.iter().filter(|&&c| scenario.supports(c)) {
                let key = scenario.key(compression);
                eprintln!("round {}/{}: {key}", round + 1, options.runs);
                let reference = match scenario {
                    Scenario::Persistent | Scenario::PersistentFsync => measured
                        .get(&Scenario::Passthrough.key(compression))
                        .and_then(|m| m.reference_rate),
                    _ => None,
                };
                let m = measure(scenario, compression, options, reference).await?;
                eprintln!("  {m:?}");
                measured.insert(key, m);
            }
        }
        results.rounds.push(measured);
    }
    if let Some(duration) = options.overload {
        eprintln!("overload check");
        results.overload = Some(overload(options, duration).await?);
    }
    Ok(results)
}

/// Measures `scenario` from fresh collectors; `reference` is the rate at which a
/// persistent-queue scenario's p99 is compared with passthrough's.
async fn measure(
    scenario: Scenario,
    compression: Compression,
    options: &Options,
    reference: Option<u64>,
) -> Result<Measurement, String> {
    let mut m = Measurement {
        compression: compression.name().to_string(),
        ..Measurement::default()
    };
    // Without --pin, two worker threads anywhere (as ever); with it, one on the
    // collector's own core.
    let (threads, placement) = match options.pin {
        None => (2, Placement::BothCores),
        Some(_) => (1, Placement::OwnCore),
    };
    let start = || Setup::start(scenario, compression, options, threads, placement);

    let setup = start().await?;
    let fixed = setup.phase(options.fixed_rate, options).await?;
    m.cpu_us_per_span = fixed.cpu.as_secs_f64() * 1e6 / fixed.accepted.max(1) as f64;
    m.fixed_rate_spans = fixed.accepted;
    m.written_bytes_per_span = fixed.written.map(|bytes| bytes as f64 / fixed.accepted.max(1) as f64);
    m.peak_queue_files_mib = fixed.peak_queue_files.map(mib);
    m.peak_rss_mib = mib(procfs::memory(setup.collector.pid())?.peak_rss);
    m.p99_ms_at_fixed_rate = fixed.p99_ms;
    drop(setup);

    let setup = start().await?;
    m.collector_cpus = pin::describe(setup.collector.pid());
    let saturated = setup.phase(0, options).await?;
    m.cpu_us_per_span_at_saturation = saturated.cpu.as_secs_f64() * 1e6 / saturated.accepted.max(1) as f64;
    m.peak_rss_mib_at_saturation = mib(procfs::memory(setup.collector.pid())?.peak_rss);
    m.sink_encodings = saturated.encodings.clone();
    m.saturation_spans_per_s = saturated.accepted as f64 / saturated.seconds.max(1e-9);
    m.saturation_losses = saturated.losses.join("; ");
    m.saturation_lossless = saturated.losses.is_empty();
    m.saturation_cores = saturated.cpu.as_secs_f64() / saturated.seconds.max(1e-9);
    m.sink_cores_at_saturation = saturated.sink_cpu.as_secs_f64() / saturated.seconds.max(1e-9);
    drop(setup);

    let half = (m.saturation_spans_per_s / 2.0).max(1.0) as u64;
    let setup = start().await?;
    let at_half = setup.phase(half, options).await?;
    m.p99_ms_at_half_saturation = at_half.p99_ms;
    drop(setup);

    if scenario == Scenario::Passthrough {
        // Passthrough's own half saturation is the reference rate of its round.
        m.reference_rate = Some(half);
        m.reference_rate_accepted = Some(at_half.accepted as f64 / at_half.seconds.max(1e-9));
        m.p99_ms_at_reference_rate = Some(at_half.p99_ms);
    } else if let Some(rate) = reference {
        let setup = start().await?;
        let at_reference = setup.phase(rate, options).await?;
        m.reference_rate = Some(rate);
        m.reference_rate_accepted = Some(at_reference.accepted as f64 / at_reference.seconds.max(1e-9));
        m.p99_ms_at_reference_rate = Some(at_reference.p99_ms);
    }

    if options.threads && matches!(scenario, Scenario::Floor | Scenario::Passthrough) {
        if options.pin.is_none() {
            let setup = Setup::start(scenario, compression, options, 1, Placement::BothCores).await?;
            let one = setup.phase(0, options).await?;
            m.saturation_one_thread = Some(one.accepted as f64 / one.seconds.max(1e-9));
            m.saturation_one_thread_cores = Some(one.cpu.as_secs_f64() / one.seconds.max(1e-9));
        } else {
            // Two worker threads on both cores: the second is the load side's.
            let setup = Setup::start(scenario, compression, options, 2, Placement::BothCores).await?;
            let two = setup.phase(0, options).await?;
            m.saturation_two_threads = Some(two.accepted as f64 / two.seconds.max(1e-9));
            m.saturation_two_threads_cores = Some(two.cpu.as_secs_f64() / two.seconds.max(1e-9));
        }
    }
    Ok(m)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The process being measured.
enum Collector {
    Sloop(Box<Sloop>, SloopPorts),
    Floor(FloorProcess),
    Rotel(rotel::Rotel),
}

/// The floor forwarder's child process; killed on drop.
struct FloorProcess {
    child: Child,
    port: u16,
}

impl Drop for FloorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Collector {
    fn pid(&self) -> u32 {
        match self {
            Collector::Sloop(sloop, _) => sloop.pid(),
            Collector::Floor(floor) => floor.child.id(),
            Collector::Rotel(rotel) => rotel.pid(),
        }
    }

    fn endpoint(&self) -> String {
        match self {
            Collector::Sloop(_, ports) => ports.grpc_url(),
            Collector::Floor(floor) => format!("http://127.0.0.1:{}", floor.port),
            Collector::Rotel(rotel) => rotel.endpoint(),
        }
    }

    /// Spans sloop refused, failed to send or dropped at a full queue, so far
    /// (the floor cannot lose without the client seeing it: it forwards
    /// synchronously; Rotel's losses show at the sink).
    async fn losses(&self) -> BTreeMap<&'static str, f64> {
        let mut out = BTreeMap::new();
        if let Collector::Sloop(sloop, _) = self {
            let text = sloop.scrape_metrics().await;
            for name in [
                "otelcol_receiver_refused_spans",
                "otelcol_exporter_send_failed_spans",
                "otelcol_exporter_enqueue_failed_spans",
            ] {
                out.insert(name, metric_sum(&text, name, &[]));
            }
        }
        out
    }
}

/// A collector and its sinks.
struct Setup {
    scenario: Scenario,
    compression: Compression,
    sinks: Vec<Sink>,
    collector: Collector,
    /// The slo processor's state and the persistent queues' files. Last, so that
    /// it is removed after the collector was stopped.
    state: StateDir,
}

/// What one load phase gave.
struct Phase {
    accepted: u64,
    seconds: f64,
    cpu: Duration,
    sink_cpu: Duration,
    p99_ms: f64,
    losses: Vec<String>,
    /// Bytes the collector wrote to files (sloop only).
    written: Option<u64>,
    /// Largest total size of the queue files sampled (persistent queues only).
    peak_queue_files: Option<u64>,
    /// Requests at the first sink by `grpc-encoding`.
    encodings: BTreeMap<String, u64>,
}

impl Setup {
    /// Starts the sinks and the collector, with `threads` Tokio worker threads
    /// (sloop and the floor; Rotel sizes its own runtime from the cores it may
    /// use) and, with `--pin`, on the cores of `placement`.
    async fn start(
        scenario: Scenario,
        compression: Compression,
        options: &Options,
        threads: usize,
        placement: Placement,
    ) -> Result<Self, String> {
        let mut sinks = Vec::new();
        for _ in 0..scenario.sinks() {
            sinks.push(Sink::start(false).await.map_err(|e| format!("starting a sink: {e}"))?);
        }
        let endpoints: Vec<String> = sinks.iter().map(Sink::endpoint).collect();
        let threads = threads.to_string();
        let ports = SloopPorts::new();
        let state = StateDir::new();
        // Forks the collector from this thread, with the collector's affinity
        // while it does (see `pin`).
        let spawn = |f: &mut dyn FnMut()| -> Result<(), String> {
            match &options.pin {
                Some(pin) => pin.spawn_with(placement, f),
                None => {
                    f();
                    Ok(())
                }
            }
        };
        let collector = match scenario {
            Scenario::Floor => {
                let mut started = None;
                spawn(&mut || started = Some(spawn_floor(&options.harness_exe, &endpoints[0], &threads)))?;
                let floor = started.ok_or("the floor was not started")??;
                Collector::Floor(wait_for_floor(floor).await?)
            }
            Scenario::Rotel => {
                let bin = options.rotel.as_deref().ok_or("no rotel-agent binary given")?;
                let mut started = None;
                spawn(&mut || started = Some(rotel::Rotel::spawn(bin, &endpoints[0], compression, &state.0)))?;
                let mut rotel = started.ok_or("rotel was not started")??;
                rotel.wait_listening(&state.0).await?;
                Collector::Rotel(rotel)
            }
            _ => {
                let yaml = scenario
                    .config(&ports, &endpoints, &state.0, compression)
                    .ok_or("a sloop scenario without a config")?;
                let sloop = start_sloop(options, placement, &yaml, &ports, &threads).await?;
                Collector::Sloop(Box::new(sloop), ports)
            }
        };
        Ok(Self {
            scenario,
            compression,
            sinks,
            collector,
            state,
        })
    }

    /// Offers `rate` spans/s (0 = flat out) for the configured duration, waits for
    /// the pipeline to drain, and reads what happened.
    async fn phase(&self, rate: u64, options: &Options) -> Result<Phase, String> {
        for sink in &self.sinks {
            sink.reset();
        }
        let lost_before = self.collector.losses().await;
        let pid = self.collector.pid();
        let cpu_before = procfs::cpu_time(pid)?;
        let sink_cpu_before = procfs::cpu_time(std::process::id())?;
        let is_sloop = matches!(self.collector, Collector::Sloop(..));
        let written_before = if is_sloop {
            Some(procfs::write_bytes(pid)?)
        } else {
            None
        };
        let queue_files = self
            .scenario
            .storage_fsync()
            .map(|_| QueueFilesSampler::start(Scenario::storage_dir(&self.state.0)));
        let load = loadgen(&self.collector.endpoint(), rate, options, options.duration).await?;
        let sink_cpu = procfs::cpu_time(std::process::id())?.saturating_sub(sink_cpu_before);
        // Drain: the batch timeout, plus tail sampling's decision wait.
        let quiet = match self.scenario {
            Scenario::TailSampling => Duration::from_millis(2_600),
            _ => Duration::from_millis(600),
        };
        let expected = self.scenario.delivers_everything().then_some(load.spans_accepted);
        for sink in &self.sinks {
            sink.settle(expected, quiet, Duration::from_secs(30)).await;
        }
        let cpu = procfs::cpu_time(pid)?.saturating_sub(cpu_before);
        let written = match written_before {
            Some(before) => Some(procfs::write_bytes(pid)?.saturating_sub(before)),
            None => None,
        };
        let peak_queue_files = queue_files.map(QueueFilesSampler::stop);
        let lost_after = self.collector.losses().await;

        let mut losses = Vec::new();
        if load.requests_failed > 0 || load.spans_rejected > 0 {
            losses.push(format!(
                "{} requests failed ({:?}), {} spans rejected",
                load.requests_failed, load.errors, load.spans_rejected
            ));
        }
        for (name, after) in &lost_after {
            let delta = after - lost_before.get(name).copied().unwrap_or(0.0);
            if delta > 0.0 {
                losses.push(format!("{name} +{delta}"));
            }
        }
        let encodings = self.sinks[0].encodings();
        let expected_encoding = self.compression.grpc_encoding();
        if encodings.keys().any(|e| e != expected_encoding) {
            losses.push(format!(
                "exported with {} but the sink saw grpc-encoding {encodings:?}",
                self.compression.name()
            ));
        }
        let delivered: Vec<u64> = self.sinks.iter().map(Sink::spans).collect();
        if expected.is_some_and(|e| delivered.iter().any(|&d| d != e)) {
            losses.push(format!(
                "accepted {} spans, sinks got {delivered:?}",
                load.spans_accepted
            ));
        }
        if delivered.windows(2).any(|w| w[0] != w[1]) {
            losses.push(format!("the sinks disagree: {delivered:?}"));
        }
        let malformed: u64 = self.sinks.iter().map(Sink::malformed).sum();
        if malformed > 0 {
            losses.push(format!("{malformed} malformed requests at the sinks"));
        }
        Ok(Phase {
            accepted: load.spans_accepted,
            seconds: load.duration_seconds,
            cpu,
            sink_cpu,
            p99_ms: report::percentile_ms(&mut self.sinks[0].latencies_us(), 0.99),
            losses,
            written,
            peak_queue_files,
            encodings,
        })
    }
}

/// A fresh directory for one collector's files (the slo processor's state, the
/// persistent queues), removed on drop.
struct StateDir(PathBuf);

impl StateDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("sloop-bench-{}-{}", std::process::id(), free_port()));
        let _ = std::fs::create_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Samples the total size of the files under a `file_storage` directory every
/// 50 ms and keeps the largest. Segments are deleted once delivered, so this is
/// what a queue that keeps up holds on disk, not what it wrote.
struct QueueFilesSampler {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl QueueFilesSampler {
    fn start(dir: PathBuf) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let peak = peak.clone();
            async move {
                loop {
                    peak.fetch_max(files_size(&dir), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        Self { peak, task }
    }

    fn stop(self) -> u64 {
        self.task.abort();
        self.peak.load(Ordering::Relaxed)
    }
}

/// Total length of the files in `dir` and its subdirectories (files may vanish
/// while it looks: they count as 0).
fn files_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => files_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Starts sloop with `yaml` and `threads` Tokio worker threads and waits until
/// it is ready; with `--pin`, on the cores of `placement`.
async fn start_sloop(
    options: &Options,
    placement: Placement,
    yaml: &str,
    ports: &SloopPorts,
    threads: &str,
) -> Result<Sloop, String> {
    let env = [("TOKIO_WORKER_THREADS", threads)];
    let yamls = [yaml];
    let mut starting = Box::pin(Sloop::start_with_env(&yamls, ports, &env));
    let Some(pin) = &options.pin else {
        return Ok(starting.await);
    };
    // The first poll spawns the process (synchronously, before it waits for
    // readiness): poll it once here, with this thread on the collector's cores.
    let first = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(pin.spawn_with(placement, || std::future::Future::poll(starting.as_mut(), cx)))
    })
    .await?;
    Ok(match first {
        std::task::Poll::Ready(sloop) => sloop,
        std::task::Poll::Pending => starting.await,
    })
}

fn spawn_floor(harness: &std::path::Path, backend: &str, threads: &str) -> Result<FloorProcess, String> {
    let port = free_port();
    let child = Command::new(harness)
        .args(["floor", "--listen", &format!("127.0.0.1:{port}"), "--backend", backend])
        .env("TOKIO_WORKER_THREADS", threads)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the floor ({}): {e}", harness.display()))?;
    Ok(FloorProcess { child, port })
}

async fn wait_for_floor(floor: FloorProcess) -> Result<FloorProcess, String> {
    let port = floor.port;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(floor);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("the floor did not listen on port {port} within 5s"))
}

/// The part of `sloop loadgen --json`'s report the harness reads.
#[derive(Debug, Clone, Default, serde::Deserialize)]
struct LoadReport {
    duration_seconds: f64,
    requests_sent: u64,
    requests_ok: u64,
    requests_failed: u64,
    spans_accepted: u64,
    spans_rejected: u64,
    #[serde(default)]
    errors: BTreeMap<String, u64>,
}

/// Runs `sloop loadgen` against `endpoint` and reads its JSON report.
async fn loadgen(endpoint: &str, rate: u64, options: &Options, duration: Duration) -> Result<LoadReport, String> {
    let args = vec![
        "loadgen".to_string(),
        "--json".into(),
        "--endpoint".into(),
        endpoint.into(),
        "--rate".into(),
        rate.to_string(),
        "--concurrency".into(),
        options.concurrency.to_string(),
        "--spans-per-request".into(),
        SPANS_PER_REQUEST.to_string(),
        "--spans-per-trace".into(),
        options.spans_per_trace.to_string(),
        "--timeout".into(),
        "5s".into(),
        "--duration".into(),
        format!("{}ms", duration.as_millis()),
    ];
    let bin = sloop_bin();
    let output = tokio::task::spawn_blocking(move || Command::new(&bin).args(&args).stdin(Stdio::null()).output())
        .await
        .map_err(|e| format!("loadgen task: {e}"))?
        .map_err(|e| format!("running sloop loadgen: {e}"))?;
    serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "sloop loadgen printed no report ({e}); exit {}; stderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Flat out into a blackholed backend behind a memory limit: RSS is sampled
/// every 100 ms, and the clients' failures are counted by kind.
async fn overload(options: &Options, duration: Duration) -> Result<Overload, String> {
    const LIMIT_MIB: u64 = 96;
    let sink = Sink::start(true).await.map_err(|e| format!("starting a sink: {e}"))?;
    let ports = SloopPorts::new();
    let yaml = scenarios::overload_config(&ports, &sink.endpoint(), LIMIT_MIB);
    let threads = match options.pin {
        None => "2",
        Some(_) => "1",
    };
    let placement = match options.pin {
        None => Placement::BothCores,
        Some(_) => Placement::OwnCore,
    };
    let sloop = start_sloop(options, placement, &yaml, &ports, threads).await?;
    let pid = sloop.pid();
    let max_rss = Arc::new(AtomicU64::new(0));
    let timeline = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = tokio::spawn({
        let max_rss = max_rss.clone();
        let timeline = timeline.clone();
        async move {
            let mut tick = 0u64;
            while let Ok(memory) = procfs::memory(pid) {
                max_rss.fetch_max(memory.rss, Ordering::Relaxed);
                if tick.is_multiple_of(5) {
                    timeline
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((mib(memory.rss) * 10.0).round() / 10.0);
                }
                tick += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let mut heavy = options.clone();
    heavy.concurrency = options.concurrency * 4;
    let load = loadgen(&ports.grpc_url(), 0, &heavy, duration).await?;
    max_rss.fetch_max(procfs::memory(pid)?.rss, Ordering::Relaxed);
    sampler.abort();
    drop(sloop);
    let rss_mib_timeline = std::mem::take(&mut *timeline.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    Ok(Overload {
        limit_mib: LIMIT_MIB,
        max_rss_mib: mib(max_rss.load(Ordering::Relaxed)),
        rss_mib_timeline,
        offered_spans_per_s: (load.requests_sent * SPANS_PER_REQUEST) as f64 / load.duration_seconds.max(1e-9),
        requests_ok: load.requests_ok,
        errors: load.errors,
    })
}
