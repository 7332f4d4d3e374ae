//! Fault injection for the persistent-queue tests (issue 12,
//! `tests/persistent_queue.rs`): a backend that can be down, slow or failing at
//! random, clients that stream uniquely identified spans and remember exactly what
//! they were told, a reader for the queue's segment files (to damage them with
//! precision), and a `sloop` confined to a size-limited tmpfs.
//!
//! The tests' one invariant is "a client's OK is a promise": every span id a
//! client got OK for must reach the backend. [`wait_for_delivery`] checks it
//! and counts duplicates, which at-least-once delivery allows but a test must
//! never hide.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::net::SocketAddr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;
use tokio::task::JoinHandle;
use tonic::Code;

use crate::backends::Received;
use crate::payloads::trace_request;
use crate::{poll_until, sloop_bin, unique_temp_dir, SloopPorts};

// ---------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------

/// A small xorshift64* generator: the fault tests need unpredictable moments and
/// offsets, and a seed to replay a failing run with, not statistical quality.
///
/// [`FaultRng::from_env_or_clock`] takes `SLOOP_FAULT_SEED` when set, else the
/// clock, and prints the seed so any failure can be replayed.
#[derive(Debug, Clone)]
pub struct FaultRng {
    state: u64,
}

impl FaultRng {
    /// A generator seeded with `seed` (0 is replaced by a fixed nonzero value).
    pub fn new(seed: u64) -> Self {
        FaultRng {
            state: if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed },
        }
    }

    /// Seeded from `SLOOP_FAULT_SEED`, else from the clock; prints
    /// `<label>: SLOOP_FAULT_SEED=<seed>` to stderr.
    pub fn from_env_or_clock(label: &str) -> Self {
        let seed = std::env::var("SLOOP_FAULT_SEED")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    ^ u64::from(std::process::id()).rotate_left(32)
            });
        eprintln!("{label}: SLOOP_FAULT_SEED={seed}");
        Self::new(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `low..high` (`low` if the range is empty).
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.next_u64() % (high - low)
    }

    /// A duration in `low..high`, at millisecond resolution.
    pub fn duration(&mut self, low: Duration, high: Duration) -> Duration {
        Duration::from_millis(self.range(low.as_millis() as u64, high.as_millis() as u64))
    }

    /// `true` with probability `p` (0.0 ..= 1.0).
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

// ---------------------------------------------------------------------------
// A backend that is down, slow or failing on demand
// ---------------------------------------------------------------------------

/// What the backend is told to do with each request; shared with its handler.
#[derive(Default)]
struct Faults {
    /// Requests refused with UNAVAILABLE, in parts per million.
    failure_ppm: AtomicU32,
    /// Delay before each answer, in milliseconds.
    delay_ms: AtomicU64,
    refused: AtomicU64,
    accepted: AtomicU64,
}

#[derive(Clone)]
struct FaultyTraceService {
    received: Received,
    faults: Arc<Faults>,
    rng: Arc<Mutex<FaultRng>>,
}

#[tonic::async_trait]
impl TraceService for FaultyTraceService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let delay = self.faults.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let ppm = f64::from(self.faults.failure_ppm.load(Ordering::SeqCst)) / 1e6;
        let fail = ppm > 0.0 && self.rng.lock().unwrap_or_else(PoisonError::into_inner).chance(ppm);
        if fail {
            self.faults.refused.fetch_add(1, Ordering::SeqCst);
            return Err(tonic::Status::unavailable("injected failure (sloop fault test)"));
        }
        self.received.push_traces(request.into_inner());
        self.faults.accepted.fetch_add(1, Ordering::SeqCst);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC trace backend on a fixed loopback port that can be down
/// ([`FaultyGrpcBackend::stop`]: every connection closed, requests in flight
/// abandoned, as a killed process), up ([`FaultyGrpcBackend::start`]), slow
/// ([`FaultyGrpcBackend::set_delay`]) or refusing a share of requests with
/// UNAVAILABLE at random ([`FaultyGrpcBackend::set_failure_rate`]).
///
/// A request is recorded only when it is answered OK, so whatever it refused
/// or abandoned must be sent again by sloop. Dereferences to its [`Received`]
/// store, which survives restarts.
pub struct FaultyGrpcBackend {
    address: SocketAddr,
    service: FaultyTraceService,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FaultyGrpcBackend {
    /// A backend for `127.0.0.1:<a free port>`, not serving yet (down): sloop
    /// can be configured with its endpoint before it comes up.
    pub fn new_down(rng: FaultRng) -> Self {
        FaultyGrpcBackend {
            address: SocketAddr::from(([127, 0, 0, 1], crate::free_port())),
            service: FaultyTraceService {
                received: Received::default(),
                faults: Arc::default(),
                rng: Arc::new(Mutex::new(rng)),
            },
            runtime: None,
        }
    }

    /// `127.0.0.1:<port>`, the form sloop's `otlp_grpc` exporter takes.
    pub fn endpoint(&self) -> String {
        self.address.to_string()
    }

    /// Whether it is serving.
    pub fn is_up(&self) -> bool {
        self.runtime.is_some()
    }

    /// Serves (again) on its port; the listener is bound before this returns.
    ///
    /// # Panics
    /// If the port cannot be bound or the runtime cannot be built.
    pub fn start(&mut self) {
        self.stop();
        // std sets SO_REUSEADDR on Unix, so the port can be bound again at once.
        let runtime =
            crate::crashing::serve_traces_on_own_runtime(self.address, self.service.clone(), "faulty backend");
        self.runtime = Some(runtime);
    }

    /// Goes down at once: the listener and every connection close, requests in
    /// flight are abandoned unanswered (and unrecorded).
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Refuses this share (0.0 ..= 1.0) of requests with UNAVAILABLE, at random.
    pub fn set_failure_rate(&self, share: f64) {
        let ppm = (share.clamp(0.0, 1.0) * 1e6) as u32;
        self.service.faults.failure_ppm.store(ppm, Ordering::SeqCst);
    }

    /// Answers each request only after `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.service
            .faults
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Requests refused by injection so far.
    pub fn refused_requests(&self) -> u64 {
        self.service.faults.refused.load(Ordering::SeqCst)
    }

    /// Requests answered OK (and recorded) so far.
    pub fn accepted_requests(&self) -> u64 {
        self.service.faults.accepted.load(Ordering::SeqCst)
    }

    /// The recorded requests.
    pub fn received(&self) -> &Received {
        &self.service.received
    }
}

impl Deref for FaultyGrpcBackend {
    type Target = Received;
    fn deref(&self) -> &Received {
        &self.service.received
    }
}

impl Drop for FaultyGrpcBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// Clients that remember what they were told
// ---------------------------------------------------------------------------

/// Everything the clients of one [`SpanStream`] were told.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// Requests sent (answered or not).
    pub sent_requests: usize,
    /// Requests answered OK.
    pub acknowledged_requests: usize,
    /// Span ids of the requests answered OK: each must reach the backend.
    pub acknowledged: HashSet<Vec<u8>>,
    /// Retryable refusals (UNAVAILABLE, RESOURCE_EXHAUSTED), by code.
    pub refusals: HashMap<Code, usize>,
    /// Every other failure (transport errors while sloop is down, timeouts,
    /// non-retryable codes), by code, with one message per code as a sample.
    pub errors: HashMap<Code, (usize, String)>,
}

impl Answers {
    /// Retryable refusals of any code.
    pub fn refused_requests(&self) -> usize {
        self.refusals.values().sum()
    }

    /// Failures that are not retryable refusals.
    pub fn error_requests(&self) -> usize {
        self.errors.values().map(|(n, _)| n).sum()
    }

    /// Merges the answers of several streams.
    pub fn merge(answers: impl IntoIterator<Item = Answers>) -> Answers {
        let mut all = Answers::default();
        for a in answers {
            all.sent_requests += a.sent_requests;
            all.acknowledged_requests += a.acknowledged_requests;
            all.acknowledged.extend(a.acknowledged);
            for (code, n) in a.refusals {
                *all.refusals.entry(code).or_default() += n;
            }
            for (code, (n, sample)) in a.errors {
                all.errors.entry(code).or_insert((0, sample)).0 += n;
            }
        }
        all
    }

    /// One line for the test's output.
    pub fn summary(&self) -> String {
        format!(
            "sent {} requests: {} acknowledged ({} spans), refused {:?}, other errors {:?}",
            self.sent_requests,
            self.acknowledged_requests,
            self.acknowledged.len(),
            self.refusals,
            self.errors
        )
    }
}

/// One client streaming trace requests of `spans_per_request` uniquely
/// identified spans, one request at a time with `pause` between them, until
/// stopped. It never sends a request twice: a refused or failed request's spans
/// were never acknowledged, so nobody may expect them.
///
/// The channel is lazy and reconnects by itself, and a request that gets no
/// answer within 15 s counts as failed, so the stream survives sloop being
/// killed and restarted on the same port.
pub struct SpanStream {
    stop: Arc<AtomicBool>,
    pause_ms: Arc<AtomicU64>,
    answers: Arc<Mutex<Answers>>,
    acknowledged_requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

/// Bound on one request of a [`SpanStream`].
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

impl SpanStream {
    /// Starts streaming to `url` (`SloopPorts::grpc_url`). `tag` names the spans.
    pub fn start(url: String, tag: &str, spans_per_request: usize, pause: Duration) -> SpanStream {
        let stop = Arc::new(AtomicBool::new(false));
        let pause_ms = Arc::new(AtomicU64::new(pause.as_millis() as u64));
        let answers = Arc::new(Mutex::new(Answers::default()));
        let acknowledged_requests = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(stream_spans(
            url,
            tag.to_string(),
            spans_per_request,
            stop.clone(),
            pause_ms.clone(),
            answers.clone(),
            acknowledged_requests.clone(),
        ));
        SpanStream {
            stop,
            pause_ms,
            answers,
            acknowledged_requests,
            task,
        }
    }

    /// Changes the pause between requests.
    pub fn set_pause(&self, pause: Duration) {
        self.pause_ms.store(pause.as_millis() as u64, Ordering::SeqCst);
    }

    /// Requests answered OK so far.
    pub fn acknowledged_requests(&self) -> usize {
        self.acknowledged_requests.load(Ordering::SeqCst)
    }

    /// A copy of the answers so far.
    pub fn answers(&self) -> Answers {
        self.answers.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stops after the request in flight (bounded by the request timeout) and
    /// returns every answer.
    pub async fn stop(self) -> Answers {
        self.stop.store(true, Ordering::SeqCst);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            abort.abort();
            panic!("a span stream did not stop within its request timeout");
        }
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers.clone()
    }
}

fn lazy_client(url: &str) -> TraceServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .expect("a valid gRPC URL")
        .connect_timeout(Duration::from_secs(2))
        .timeout(REQUEST_TIMEOUT)
        .connect_lazy();
    TraceServiceClient::new(channel)
}

async fn stream_spans(
    url: String,
    tag: String,
    spans_per_request: usize,
    stop: Arc<AtomicBool>,
    pause_ms: Arc<AtomicU64>,
    answers: Arc<Mutex<Answers>>,
    acknowledged_requests: Arc<AtomicUsize>,
) {
    let mut client = lazy_client(&url);
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let (ids, result) = export_one(&mut client, &format!("{tag}-{n}"), spans_per_request).await;
        n += 1;
        let ok = result.is_ok();
        answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(ids, result);
        if ok {
            acknowledged_requests.fetch_add(1, Ordering::SeqCst);
        } else {
            // A fresh channel after any failure costs one connect, and a
            // connection broken by a kill is not reused.
            client = lazy_client(&url);
        }
        let pause = pause_ms.load(Ordering::SeqCst);
        if pause > 0 {
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
}

/// Sends one request of `spans` new spans named `<name>-<i>`; returns their ids
/// and the answer.
async fn export_one(
    client: &mut TraceServiceClient<tonic::transport::Channel>,
    name: &str,
    spans: usize,
) -> (Vec<Vec<u8>>, Result<(), tonic::Status>) {
    let request = trace_request(name, spans);
    let ids: Vec<Vec<u8>> = request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.span_id.clone())
        .collect();
    let result = client.export(request).await.map(|_| ());
    (ids, result)
}

impl Answers {
    fn record(&mut self, ids: Vec<Vec<u8>>, result: Result<(), tonic::Status>) {
        self.sent_requests += 1;
        match result {
            Ok(()) => {
                self.acknowledged_requests += 1;
                self.acknowledged.extend(ids);
            }
            Err(status) if matches!(status.code(), Code::Unavailable | Code::ResourceExhausted) => {
                *self.refusals.entry(status.code()).or_default() += 1;
            }
            Err(status) => {
                self.errors
                    .entry(status.code())
                    .or_insert_with(|| (0, status.message().to_string()))
                    .0 += 1;
            }
        }
    }
}

/// Sends `requests` requests of `spans` spans one after another from one
/// client, as fast as they are answered, and returns the answers.
pub async fn send_requests(url: &str, tag: &str, requests: usize, spans: usize) -> Answers {
    let mut client = lazy_client(url);
    let mut answers = Answers::default();
    for r in 0..requests {
        let (ids, result) = export_one(&mut client, &format!("{tag}-{r}"), spans).await;
        answers.record(ids, result);
    }
    answers
}

// ---------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------

/// What reached the backend, compared with what clients were promised.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Expected span ids that never arrived.
    pub missing: Vec<Vec<u8>>,
    /// Spans the backend received, copies included.
    pub received_spans: usize,
    /// Span ids that arrived more than once, with how often.
    pub duplicated: Vec<(Vec<u8>, usize)>,
    /// Extra copies in all (received spans minus distinct ids).
    pub duplicate_copies: usize,
    /// Distinct ids that arrived although nobody was promised them (a request
    /// written to the queue whose OK was lost to a kill, say): allowed.
    pub unpromised: usize,
}

impl Delivery {
    /// Prints the counts, and up to ten duplicated ids, to stderr: duplicates
    /// are allowed but never silent.
    pub fn report(&self, label: &str, expected: usize) {
        eprintln!(
            "{label}: expected {expected} spans, received {} span copies; missing {}, duplicated ids {} \
             ({} extra copies), arrived unpromised {}",
            self.received_spans,
            self.missing.len(),
            self.duplicated.len(),
            self.duplicate_copies,
            self.unpromised
        );
        for (id, copies) in self.duplicated.iter().take(10) {
            eprintln!("{label}: duplicate span id {} arrived {copies} times", hex(id));
        }
        if self.duplicated.len() > 10 {
            eprintln!("{label}: ... and {} more duplicated ids", self.duplicated.len() - 10);
        }
    }

    /// The first few missing ids, for an assertion message.
    pub fn missing_sample(&self) -> String {
        self.missing
            .iter()
            .take(10)
            .map(|id| hex(id))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every span id the backend holds, with how many copies of each.
pub fn received_span_ids(received: &Received) -> HashMap<Vec<u8>, usize> {
    let mut ids = HashMap::new();
    for request in received.trace_requests() {
        for span in request
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
        {
            *ids.entry(span.span_id.clone()).or_insert(0usize) += 1;
        }
    }
    ids
}

/// Waits (polling every 250 ms, at most `timeout`) until every id in
/// `expected` has arrived, then compares.
pub async fn wait_for_delivery(received: &Received, expected: &HashSet<Vec<u8>>, timeout: Duration) -> Delivery {
    poll_until(timeout, Duration::from_millis(250), || {
        let ids = received_span_ids(received);
        let done = expected.iter().all(|id| ids.contains_key(id));
        async move { done.then_some(()) }
    })
    .await;
    let ids = received_span_ids(received);
    let mut duplicated: Vec<(Vec<u8>, usize)> = ids
        .iter()
        .filter(|(_, copies)| **copies > 1)
        .map(|(id, copies)| (id.clone(), *copies))
        .collect();
    duplicated.sort();
    Delivery {
        missing: expected.iter().filter(|id| !ids.contains_key(*id)).cloned().collect(),
        received_spans: ids.values().sum(),
        duplicate_copies: ids.values().map(|copies| copies - 1).sum(),
        duplicated,
        unpromised: ids.keys().filter(|id| !expected.contains(*id)).count(),
    }
}

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// A config with one `otlp` receiver, the `health_check` and `file_storage`
/// extensions, and one traces pipeline into an `otlp_grpc` exporter whose
/// `sending_queue` is persistent (no processors: nothing in between that could
/// hold an acknowledgement back or drop data on its own).
#[derive(Debug, Clone)]
pub struct PersistentQueueConfig {
    pub ports: SloopPorts,
    /// The backend's `host:port`.
    pub endpoint: String,
    /// `file_storage.directory`.
    pub directory: PathBuf,
    /// `requests`, `items` or `bytes`.
    pub sizer: &'static str,
    pub queue_size: u64,
    pub num_consumers: u32,
    pub shutdown_timeout: Duration,
}

impl PersistentQueueConfig {
    /// Defaults: `sizer: requests`, `queue_size: 100000`, `num_consumers: 4`,
    /// `shutdown_timeout: 2s` (a persistent queue keeps what it cannot deliver, so
    /// a short shutdown loses nothing and keeps the tests quick).
    pub fn new(ports: SloopPorts, endpoint: String, directory: PathBuf) -> Self {
        PersistentQueueConfig {
            ports,
            endpoint,
            directory,
            sizer: "requests",
            queue_size: 100_000,
            num_consumers: 4,
            shutdown_timeout: Duration::from_secs(2),
        }
    }

    /// The YAML.
    pub fn yaml(&self) -> String {
        format!(
            "{receivers}\
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
  file_storage:
    directory: {directory}
    create_directory: true
    fsync: false
    timeout: 1s
exporters:
  otlp_grpc:
    endpoint: {endpoint}
    tls:
      insecure: true
    sending_queue:
      storage: file_storage
      sizer: {sizer}
      queue_size: {queue_size}
      num_consumers: {num_consumers}
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
      max_elapsed_time: 0s
service:
  extensions: [health_check, file_storage]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  shutdown_timeout: {shutdown_ms}ms
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_grpc]
",
            receivers = self.ports.otlp_receiver_yaml(&[], &[]),
            health = self.ports.health,
            telemetry = self.ports.telemetry,
            directory = self.directory.display(),
            endpoint = self.endpoint,
            sizer = self.sizer,
            queue_size = self.queue_size,
            num_consumers = self.num_consumers,
            shutdown_ms = self.shutdown_timeout.as_millis(),
        )
    }

    /// The exporter's queue directory: `<directory>/exporter_otlp_grpc`.
    pub fn queue_dir(&self) -> PathBuf {
        queue_dir(&self.directory, "otlp_grpc")
    }
}

/// `<directory>/exporter_<id with '/' replaced by '_'>`.
pub fn queue_dir(directory: &Path, exporter_id: &str) -> PathBuf {
    directory.join(format!("exporter_{}", exporter_id.replace('/', "_")))
}

// ---------------------------------------------------------------------------
// Queue files
// ---------------------------------------------------------------------------

/// Size of a record header in a segment file.
pub const RECORD_HEADER_BYTES: usize = 28;
const RECORD_MAGIC: &[u8; 4] = b"SLQ1";

/// The segment files (`seg-<first sequence>.log`) in a queue directory, oldest
/// first (the 20-digit names sort by sequence).
pub fn segment_files(queue_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match fs::read_dir(queue_dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".log"))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Total size in bytes of the files directly in `dir` (0 if it does not exist).
pub fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// One record of a segment file, as the contract of issue 12 lays it out: a
/// 28-byte header (magic `SLQ1`, u32 LE payload length, u8 signal, 3 reserved
/// bytes, u32 LE items, u64 LE sequence, u32 LE crc32) and an OTLP
/// `Export*ServiceRequest` payload.
#[derive(Debug, Clone)]
pub struct QueueRecord {
    /// Offset of the header in the file.
    pub offset: usize,
    /// Header plus payload.
    pub len: usize,
    pub sequence: u64,
    /// Span ids of the payload (a trace request).
    pub span_ids: Vec<Vec<u8>>,
}

impl QueueRecord {
    /// One past its last byte.
    pub fn end(&self) -> usize {
        self.offset + self.len
    }
}

/// Reads every record of an undamaged segment file of trace requests.
///
/// # Panics
/// If the file does not follow the layout above to its last byte: the tests
/// damage files with precision, so they must understand them first.
pub fn read_segment(path: &Path) -> Vec<QueueRecord> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let header = bytes
            .get(offset..offset + RECORD_HEADER_BYTES)
            .unwrap_or_else(|| panic!("{}: a partial header at offset {offset}", path.display()));
        assert_eq!(
            &header[..4],
            RECORD_MAGIC,
            "{}: no record magic at offset {offset}",
            path.display()
        );
        let payload_len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut sequence = [0u8; 8];
        sequence.copy_from_slice(&header[16..24]);
        let start = offset + RECORD_HEADER_BYTES;
        let payload = bytes
            .get(start..start + payload_len)
            .unwrap_or_else(|| panic!("{}: a partial payload at offset {start}", path.display()));
        let request = ExportTraceServiceRequest::decode(payload)
            .unwrap_or_else(|e| panic!("{}: the payload at {start} is no trace request: {e}", path.display()));
        records.push(QueueRecord {
            offset,
            len: RECORD_HEADER_BYTES + payload_len,
            sequence: u64::from_le_bytes(sequence),
            span_ids: request
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .map(|s| s.span_id.clone())
                .collect(),
        });
        offset = start + payload_len;
    }
    records
}

// ---------------------------------------------------------------------------
// HTTP probes
// ---------------------------------------------------------------------------

fn probe_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("building a reqwest client")
}

/// The status of `GET http://127.0.0.1:<port>/readyz`, `None` if nothing answers.
pub async fn readyz(port: u16) -> Option<u16> {
    probe_client()
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// The self-metrics text at `http://127.0.0.1:<port>/metrics` (empty if the
/// scrape fails: the caller's assertion then shows it).
pub async fn scrape(port: u16) -> String {
    match probe_client()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
    {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

// ---------------------------------------------------------------------------
// sloop on a small disk
// ---------------------------------------------------------------------------

/// Whether this machine lets an unprivileged user namespace mount a tmpfs
/// (`unshare -Urm`), which [`SloopOnTmpfs`] needs. `SLOOP_TEST_NO_TMPFS=1` says
/// no, to exercise a test's fallback.
pub fn tmpfs_mount_works() -> bool {
    if std::env::var_os("SLOOP_TEST_NO_TMPFS").is_some() {
        return false;
    }
    let dir = unique_temp_dir();
    let works = Command::new("unshare")
        .args(["-Urm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs \"$1\"", "sh"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _ = fs::remove_dir_all(&dir);
    works
}

/// A `sloop` whose file-storage directory is a tmpfs of a fixed size, mounted
/// in a mount namespace of its own (`unshare -Urm`, which then execs sloop, so
/// the pid is sloop's and the mount disappears with the process). Only sloop
/// sees the tmpfs; the test sees the directory's empty mount point.
///
/// Logs go to files in a temp dir, printed if the test panics; the child is
/// killed on drop.
pub struct SloopOnTmpfs {
    child: Child,
    dir: PathBuf,
    ports: SloopPorts,
    /// Set once the logs went into a message, so `Drop` does not print them again.
    logs_shown: AtomicBool,
}

impl SloopOnTmpfs {
    /// Mounts a tmpfs of `size` (e.g. `2m`) on `mount_point` (which must exist)
    /// and runs sloop with `yaml` in that namespace; waits (bounded) until
    /// `/readyz` answers 200.
    ///
    /// # Panics
    /// If it exits or is not ready within 10 s (logs shown).
    pub async fn start(yaml: &str, ports: SloopPorts, mount_point: &Path, size: &str) -> SloopOnTmpfs {
        let dir = unique_temp_dir();
        let config = dir.join("config.yaml");
        fs::write(&config, yaml).unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
        let stdout = File::create(dir.join("stdout.log")).expect("creating stdout.log");
        let stderr = File::create(dir.join("stderr.log")).expect("creating stderr.log");
        let child = Command::new("unshare")
            .args([
                "-Urm",
                "sh",
                "-c",
                "mount -t tmpfs -o size=\"$1\" tmpfs \"$2\" && exec \"$3\" --config \"$4\"",
                "sh",
                size,
            ])
            .arg(mount_point)
            .arg(sloop_bin())
            .arg(&config)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawning unshare");
        let mut sloop = SloopOnTmpfs {
            child,
            dir,
            ports,
            logs_shown: AtomicBool::new(false),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                sloop.is_running(),
                "sloop on a tmpfs exited before it was ready\n{}",
                sloop.logs()
            );
            if sloop.readyz().await == Some(200) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "sloop on a tmpfs was not ready within 10 s\n{}",
                sloop.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sloop
    }

    /// The child's pid (sloop's, since `unshare` and `sh` exec).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `/readyz`'s status now.
    pub async fn readyz(&self) -> Option<u16> {
        readyz(self.ports.health).await
    }

    /// [`crate::metric_sum`] of `name` over samples with all of `labels`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        crate::metric_sum(&scrape(self.ports.telemetry).await, name, labels)
    }

    /// Both logs, labelled, for a failure message.
    pub fn logs(&self) -> String {
        self.logs_shown.store(true, Ordering::Relaxed);
        let read = |name: &str| {
            fs::read(self.dir.join(name))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        format!(
            "----- sloop (on tmpfs) stdout ({}) -----\n{}\n----- sloop stderr -----\n{}\n----- end of sloop logs -----",
            self.dir.display(),
            read("stdout.log"),
            read("stderr.log")
        )
    }
}

impl Drop for SloopOnTmpfs {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            if !self.logs_shown.load(Ordering::Relaxed) {
                eprintln!("{}", self.logs());
            }
            eprintln!("(sloop files kept in {})", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs `body`, failing the test if it takes longer than `bound`, and prints
/// how long it took: every fault test stops by itself even if sloop hangs.
///
/// The panic happens while `body` is still alive, so the sloop handles inside it
/// are dropped during the unwind and print their logs.
pub async fn bounded<T>(label: &str, bound: Duration, body: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let mut body = std::pin::pin!(body);
    tokio::select! {
        value = &mut body => {
            eprintln!("{label}: took {:?}", started.elapsed());
            value
        }
        () = tokio::time::sleep(bound) => panic!("{label}: did not finish within {bound:?}"),
    }
}
