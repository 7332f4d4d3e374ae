//! Test harness for `sloop`'s end-to-end integration tests.
//!
//! The tests in `integration-tests/tests/` start the real `sloop` binary
//! (see [`Sloop`]) on free loopback ports, drive it with real OTLP clients and
//! let it export into OTLP backends that the test itself runs
//! ([`GrpcBackend`], [`HttpBackend`]). Everything listens on `127.0.0.1` only,
//! and every wait in here is bounded.
//!
//! Modules:
//! * [`admin`]: reading sloop's admin server (status API, pages) over HTTP.
//! * [`process`]: locating, configuring, starting, signalling and reaping the
//!   `sloop` child process, with its logs kept in a temp dir and printed when
//!   a test fails.
//! * [`backends`]: gRPC and HTTP OTLP backends that record every request,
//!   plus helpers to flatten requests into spans, metric points and log
//!   records for comparison.
//! * [`prom`]: a small hand-written parser for the Prometheus text format
//!   served by sloop's self-telemetry endpoint.
//! * [`capture`]: wrappers around SDK exporters that record, as OTLP protos,
//!   exactly what the OpenTelemetry SDK sent, so tests can compare what left
//!   the client with what reached the backends.
//! * [`certs`]: test CAs and certificates (rcgen), and rustls helpers for the
//!   TLS tests.
//! * [`payloads`]: hand-built OTLP requests for tests that use raw clients.
//! * [`faults`]: fault injection for the persistent-queue tests (a backend down,
//!   slow or failing at random, streaming clients, queue files, a small disk).
//! * [`bench`](mod@bench): the end-to-end benchmark harness (`./scripts/bench`).

pub mod admin;
pub mod backends;
pub mod bench;
pub mod capture;
pub mod certs;
pub mod crashing;
pub mod faults;
pub mod payloads;
pub mod process;
pub mod prom;

use std::collections::HashSet;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use backends::{
    flatten_logs, flatten_metrics, flatten_spans, FlatLogRecord, FlatMetricPoint, FlatSpan, GrpcBackend, HttpBackend,
    HttpRequestInfo, Received,
};
pub use crashing::CrashingGrpcBackend;
pub use process::{run_loadgen, sloop_bin, unique_temp_dir, Sloop, SloopPorts};
pub use prom::{metric_sum, parse_samples, Sample};

/// Default bound for "wait until the data shows up" loops in tests.
pub const DATA_TIMEOUT: Duration = Duration::from_secs(20);

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// Binds `127.0.0.1:0`, reads the port the OS picked and closes the socket.
/// Another process could grab the port before the caller binds it; that race
/// is accepted in tests. Ports are never handed out twice by one test
/// process, so several ports allocated for the same config are distinct.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    for _ in 0..100 {
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
            .expect("binding 127.0.0.1:0 to find a free port");
        let port = listener
            .local_addr()
            .expect("reading the local address of a freshly bound listener")
            .port();
        drop(listener);
        let mut guard = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("could not find a free port on 127.0.0.1 that was not already handed out");
}

/// The cargo workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(PathBuf::from).unwrap_or(manifest_dir)
}

/// Polls `check` every `interval` until it returns `Some`, or `timeout`
/// passes. Returns the last `Some` value, or `None` on timeout.
pub async fn poll_until<T, F, Fut>(timeout: Duration, interval: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(interval).await;
    }
}

/// The Python of the venv `target/<venv>`, which `./scripts/test` creates from
/// `requirements`; a test without it fails, pointing there.
pub fn venv_python(venv: &str, requirements: &str) -> PathBuf {
    let python = workspace_root().join("target").join(venv).join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run ./scripts/test, which creates target/{venv} from {requirements}",
        python.display()
    );
    python
}

/// Runs `command` with its stdout and stderr captured until it exits, for at most
/// `timeout`; past that it is killed (by its pid). Its output, and its exit status
/// (`None` when it had to be killed). The output is read while the command runs, so
/// a command that prints more than a pipe holds does not block on it.
pub async fn run_bounded(
    command: &mut std::process::Command,
    timeout: Duration,
) -> (Option<std::process::ExitStatus>, std::process::Output) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child process") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let exit = child.wait().expect("reaping a child process");
    let output = std::process::Output {
        status: exit,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    (status, output)
}

/// Whether something accepts TCP connections on `127.0.0.1:port` right now.
pub fn port_is_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(200),
    )
    .is_ok()
}
