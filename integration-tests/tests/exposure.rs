//! What an exposed receiver survives: running out of file descriptors, slowloris
//! clients, thousands of idle connections, more connections than `max_connections`;
//! and CORS for browsers. Each test checks that a normal client keeps getting
//! answers while the abuse goes on, or again once it stops.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::payloads::trace_request;
use integration_tests::{poll_until, Sloop, SloopPorts};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What an HTTP/2 client sends first: the preface and an empty SETTINGS frame.
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// sloop with the OTLP receiver (`grpc_extra`/`http_extra` added to its protocols)
/// feeding a `debug` exporter.
fn config(ports: &SloopPorts, grpc_extra: &[&str], http_extra: &[&str]) -> String {
    format!(
        "{receivers}exporters:\n  debug: {{}}\n{service}",
        receivers = ports.otlp_receiver_yaml(grpc_extra, http_extra),
        service = ports.service_yaml(&[], &["debug"]),
    )
}

/// One OTLP/HTTP export on a new connection: its status, or the error.
async fn export_http(ports: &SloopPorts) -> Result<StatusCode, String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    client
        .post(ports.http_url("/v1/traces"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
        .body(trace_request("exposure", 1).encode_to_vec())
        .send()
        .await
        .map(|r| r.status())
        .map_err(|e| e.to_string())
}

/// One OTLP/gRPC export on a new channel: whether it succeeded, or the error.
async fn export_grpc(ports: &SloopPorts) -> Result<(), String> {
    let attempt = async {
        let mut client = TraceServiceClient::connect(ports.grpc_url())
            .await
            .map_err(|e| e.to_string())?;
        client
            .export(trace_request("exposure", 1))
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

/// Asserts that both transports answer normal exports, `times` times each.
async fn normal_client_is_served(ports: &SloopPorts, sloop: &Sloop, times: usize) {
    for _ in 0..times {
        let http = export_http(ports).await;
        assert_eq!(http, Ok(StatusCode::OK), "OTLP/HTTP export\n{}", sloop.logs());
        let grpc = export_grpc(ports).await;
        assert_eq!(grpc, Ok(()), "OTLP/gRPC export\n{}", sloop.logs());
    }
}

/// The soft and hard open-file limits of process `pid` (`self` for this one).
fn fd_limits(pid: &str) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("reading /proc/<pid>/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("/proc/<pid>/limits has a Max open files line");
    let numbers: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (numbers[0], numbers[1])
}

/// Raises this process's soft open-file limit to at least `needed` (children
/// started later inherit it), or fails saying why it cannot.
fn ensure_fd_limit(needed: u64) {
    let (soft, hard) = fd_limits("self");
    if soft >= needed {
        return;
    }
    assert!(
        hard >= needed,
        "this test needs {needed} open files but the hard limit is {hard}; raise it (ulimit -Hn) and rerun"
    );
    // prlimit(1) rather than setrlimit(2): the workspace forbids unsafe code.
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={hard}:{hard}"),
        ])
        .status()
        .expect("running prlimit (util-linux) to raise the open-file limit");
    assert!(
        status.success(),
        "prlimit could not raise the open-file limit to {hard}"
    );
}

/// CPU time (user + system) process `pid` has used.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading /proc/<pid>/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')').expect("a stat line has the command in parentheses") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("running getconf CLK_TCK");
    let per_second: u64 = String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(100);
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// Resident set size of process `pid`, in KiB (0 if unreadable).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// Out of file descriptors through the gRPC port: no busy loop, a bounded number of
/// log lines, and both transports serve again once the connections close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_backs_off_and_recovers() {
    ensure_fd_limit(2048);
    let ports = SloopPorts::new();
    let sloop = Sloop::start(&config(&ports, &[], &[]), &ports).await;
    let pid = sloop.pid().to_string();
    let status = Command::new("prlimit")
        .args(["--pid", &pid, "--nofile=256:256"])
        .status()
        .expect("running prlimit");
    assert!(status.success(), "prlimit could not lower sloop's open-file limit");
    assert_eq!(fd_limits(&pid).0, 256);

    // More connections than sloop has descriptors, each starting HTTP/2 as a gRPC
    // client does (so sloop keeps them); the kernel queues the ones sloop cannot
    // accept until its queue is full, then connecting times out.
    let mut held = Vec::new();
    let address = (std::net::Ipv4Addr::LOCALHOST, ports.grpc).into();
    let mut timeouts = 0;
    while held.len() < 400 && timeouts < 3 {
        match TcpStream::connect_timeout(&address, Duration::from_millis(500)) {
            Ok(mut stream) => {
                let _ = stream.write_all(HTTP2_PREFACE);
                held.push(stream);
            }
            Err(_) => timeouts += 1,
        }
    }
    eprintln!("{} connections open to the gRPC port", held.len());
    const ERROR_LINE: &str = "Cannot accept connections; backing off.";
    let exhausted = poll_until(Duration::from_secs(10), Duration::from_millis(50), || async {
        (count(&sloop.stderr(), ERROR_LINE) > 0).then_some(())
    })
    .await;
    assert!(
        exhausted.is_some(),
        "sloop never ran out of descriptors\n{}",
        sloop.logs()
    );

    // The health check and self-metrics listeners cannot accept either now.
    let others: Vec<TcpStream> = [ports.health, ports.telemetry]
        .into_iter()
        .filter_map(|port| {
            TcpStream::connect_timeout(&(std::net::Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(1)).ok()
        })
        .collect();
    assert_eq!(others.len(), 2, "the kernel queues connections sloop cannot accept");
    let all_failing = poll_until(Duration::from_secs(5), Duration::from_millis(50), || async {
        let log = sloop.stderr();
        (log.contains("listener=health_check") && log.contains("listener=telemetry")).then_some(())
    })
    .await;
    assert!(
        all_failing.is_some(),
        "the other listeners did not log\n{}",
        sloop.logs()
    );
    let (cpu_before, lines_before) = (cpu_time(sloop.pid()), count(&sloop.stderr(), ERROR_LINE));
    let window = Duration::from_secs(3);
    tokio::time::sleep(window).await;
    let (cpu_after, lines_after) = (cpu_time(sloop.pid()), count(&sloop.stderr(), ERROR_LINE));
    let cpu_share = (cpu_after - cpu_before).as_secs_f64() / window.as_secs_f64();
    let lines = lines_after - lines_before;
    eprintln!(
        "while out of descriptors: {:.1}% of a core, {lines} error lines in 3 s",
        cpu_share * 100.0
    );
    // The busy loop of issue 13 used 98% of a core; backing off uses next to nothing.
    assert!(
        cpu_share < 0.30,
        "sloop used {:.0}% of a core while out of descriptors",
        cpu_share * 100.0
    );
    // At most one line a second per listener (plus one for the window's edges).
    assert!(lines <= 3 * 4, "{lines} accept-error lines in 3 s\n{}", sloop.logs());
    assert!(sloop.stderr().contains("Too many open files"), "{}", sloop.logs());

    for stream in &held {
        let _ = stream.shutdown(Shutdown::Both);
    }
    drop((held, others));
    let health = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("reqwest client");
    let health_url = format!("http://127.0.0.1:{}/", ports.health);
    let recovered = poll_until(Duration::from_secs(10), Duration::from_millis(100), || async {
        let healthy = health
            .get(&health_url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        (healthy && export_http(&ports).await == Ok(StatusCode::OK) && export_grpc(&ports).await.is_ok()).then_some(())
    })
    .await;
    assert!(recovered.is_some(), "sloop did not serve again\n{}", sloop.logs());
    let errors = sloop
        .metric("sloop_listener_accept_errors", &[("listener", "otlp/grpc")])
        .await;
    assert!(errors >= 1.0, "accept errors were not counted");
}

/// A connection that trickles a request head one byte a second: when sloop closed
/// it (measured from the first byte).
async fn slowloris(port: u16) -> Result<Duration, String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: {}",
        "a".repeat(100)
    );
    let mut buf = [0u8; 64];
    for byte in head.as_bytes() {
        if stream.write_all(&[*byte]).await.is_err() {
            return Ok(started.elapsed());
        }
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            // Closed (0 bytes), reset, or an error response before closing.
            Ok(_) => return Ok(started.elapsed()),
            Err(_) => continue,
        }
    }
    Err("sent the whole head without being closed".into())
}

/// 500 slowloris connections are closed after `read_header_timeout` while a normal
/// client keeps being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_after_the_header_timeout() {
    ensure_fd_limit(2048);
    const TIMEOUT: Duration = Duration::from_secs(2);
    let ports = SloopPorts::new();
    let sloop = Sloop::start(&config(&ports, &[], &["read_header_timeout: 2s"]), &ports).await;

    let clients: Vec<_> = (0..500).map(|_| tokio::spawn(slowloris(ports.http))).collect();
    // While they trickle, a normal client is served.
    let trickling = Instant::now();
    while trickling.elapsed() < TIMEOUT {
        normal_client_is_served(&ports, &sloop, 1).await;
    }
    let mut closed_after = Vec::new();
    for client in clients {
        let result = tokio::time::timeout(Duration::from_secs(15), client)
            .await
            .expect("a slowloris client is bounded by its head's length");
        closed_after.push(
            result
                .expect("slowloris task")
                .unwrap_or_else(|e| panic!("{e}\n{}", sloop.logs())),
        );
    }
    let latest = closed_after.iter().max().copied().unwrap_or_default();
    let earliest = closed_after.iter().min().copied().unwrap_or_default();
    eprintln!("500 slowloris connections closed between {earliest:?} and {latest:?}");
    // Not before the timeout (so it is the timeout that closed them), and within it
    // plus a margin for 500 connections on a busy 2-core machine.
    assert!(
        earliest >= TIMEOUT - Duration::from_millis(200),
        "closed after {earliest:?}"
    );
    assert!(latest <= TIMEOUT + Duration::from_secs(3), "closed after {latest:?}");
    let counted = sloop
        .metric(
            "sloop_receiver_connections_closed",
            &[("reason", "read_header_timeout")],
        )
        .await;
    assert!(counted >= 500.0, "{counted} header timeouts counted");
    normal_client_is_served(&ports, &sloop, 1).await;
}

/// Opens `n` connections to `port` that send nothing.
fn idle_connections(port: u16, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("idle connection {i} to {port}: {e}"))
        })
        .collect()
}

/// What a gRPC client channel sends on connecting, before any call: the HTTP/2
/// connection preface and an empty SETTINGS frame.
const H2_HELLO: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// `idle_connections` that each say `hello` at once, then nothing more.
fn idle_connections_after(port: u16, n: usize, hello: &[u8]) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            let mut connection = idle_connections(port, 1).remove(0);
            connection
                .write_all(hello)
                .unwrap_or_else(|e| panic!("greeting on idle connection {i} to {port}: {e}"));
            connection
        })
        .collect()
}

/// 5,000 idle connections on each port do not stop a normal client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_do_not_stop_normal_clients() {
    const IDLE: usize = 5_000;
    // This process holds the client ends, sloop (which inherits the limit) the others.
    ensure_fd_limit(2 * IDLE as u64 + 2048);
    let ports = SloopPorts::new();
    // Opening 10,000 connections took 33 s on a busy CI machine, longer than the
    // default 30 s `read_header_timeout`, which then closed the first HTTP ones: this
    // test is about holding them, so that timeout is set far beyond its run.
    let sloop = Sloop::start(
        &config(&ports, &[], &["read_header_timeout: 10m", "idle_timeout: 10m"]),
        &ports,
    )
    .await;
    let rss_before = rss_kib(sloop.pid());
    let opened = Instant::now();
    // Idle gRPC clients: connected, preface sent, no call (a connection that never
    // sends its preface is closed after 30 s, see `silent_connections_are_closed`).
    let grpc_idle = idle_connections_after(ports.grpc, IDLE, H2_HELLO);
    let http_idle = idle_connections(ports.http, IDLE);
    eprintln!("opened {} idle connections in {:?}", 2 * IDLE, opened.elapsed());
    // A connect returns once the kernel queued the connection; sloop accepts the
    // last of them a moment later (on CI, 7,549 of 10,000 were accepted when the
    // count was read at once).
    let all = (2 * IDLE) as f64;
    let held = poll_until(Duration::from_secs(60), Duration::from_millis(200), || async {
        let held = sloop.metric("sloop_receiver_connections", &[]).await;
        (held >= all).then_some(held)
    })
    .await;
    let held = held.unwrap_or_else(|| {
        panic!(
            "sloop did not accept all {all} idle connections within 60 s\n{}",
            sloop.logs()
        )
    });
    normal_client_is_served(&ports, &sloop, 3).await;
    let still = sloop.metric("sloop_receiver_connections", &[]).await;
    eprintln!(
        "sloop holds {held}, then {still} connections; RSS {rss_before} KiB before, {} KiB now",
        rss_kib(sloop.pid())
    );
    // Every idle one, so the normal client was served while they were all held.
    assert!(
        still >= all,
        "sloop holds only {still} connections after the normal client"
    );
    drop((grpc_idle, http_idle));
}

/// Connections that never send a byte are closed once silent for the protocol's
/// limit (`read_header_timeout` on HTTP, `max_connection_idle` on gRPC), counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed() {
    const SILENT: usize = 200;
    let ports = SloopPorts::new();
    let yaml = config(
        &ports,
        &["keepalive:", "  server_parameters:", "    max_connection_idle: 2s"],
        &["read_header_timeout: 2s"],
    );
    let sloop = Sloop::start(&yaml, &ports).await;
    let opened = Instant::now();
    let mut silent = idle_connections(ports.grpc, SILENT);
    silent.extend(idle_connections(ports.http, SILENT));
    for stream in &silent {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("setting a read timeout");
    }
    for mut stream in silent {
        assert!(
            matches!(stream.read(&mut [0u8; 1]), Ok(0) | Err(_)),
            "a silent connection was not closed"
        );
    }
    let took = opened.elapsed();
    eprintln!("{} silent connections closed within {took:?}", 2 * SILENT);
    assert!(took >= Duration::from_millis(1800), "closed too early: {took:?}");
    assert!(took <= Duration::from_secs(7), "closed too late: {took:?}");
    let counted = sloop
        .metric("sloop_receiver_connections_closed", &[("reason", "silent")])
        .await;
    assert!(counted >= (2 * SILENT) as f64, "{counted} silent connections counted");
    normal_client_is_served(&ports, &sloop, 1).await;
}

/// Beyond `max_connections`, a new connection is closed at once and counted; open
/// ones keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_max_connections_are_closed_at_once() {
    let ports = SloopPorts::new();
    let sloop = Sloop::start(
        &config(&ports, &["max_connections: 3"], &["max_connections: 3"]),
        &ports,
    )
    .await;
    // A keep-alive HTTP client holds one connection and reuses it.
    let keep_alive = reqwest::Client::builder().no_proxy().build().expect("reqwest client");
    let post = || {
        keep_alive
            .post(ports.http_url("/v1/traces"))
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(trace_request("kept", 1).encode_to_vec())
            .send()
    };
    assert_eq!(post().await.map(|r| r.status()).ok(), Some(StatusCode::OK));
    let idle = idle_connections(ports.http, 2);
    let full = poll_until(Duration::from_secs(5), Duration::from_millis(50), || async {
        let open = sloop
            .metric("sloop_receiver_connections", &[("transport", "http")])
            .await;
        (open >= 3.0).then_some(())
    })
    .await;
    assert!(full.is_some(), "sloop did not accept the first three connections");

    let mut extra = TcpStream::connect(("127.0.0.1", ports.http)).expect("connecting");
    extra
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("setting a read timeout");
    assert!(
        matches!(extra.read(&mut [0u8; 1]), Ok(0) | Err(_)),
        "a fourth connection was not closed"
    );
    assert_eq!(
        post().await.map(|r| r.status()).ok(),
        Some(StatusCode::OK),
        "the open keep-alive connection stopped working"
    );
    let refused = sloop
        .metric(
            "sloop_receiver_connections_closed",
            &[("transport", "http"), ("reason", "max_connections")],
        )
        .await;
    assert!(refused >= 1.0, "the refused connection was not counted");
    drop(idle);
    drop(keep_alive);
    let served = poll_until(Duration::from_secs(5), Duration::from_millis(100), || async {
        (export_http(&ports).await == Ok(StatusCode::OK)).then_some(())
    })
    .await;
    assert!(served.is_some(), "not served once connections closed\n{}", sloop.logs());
}

/// A preflight from an origin matching `https://*.example.com` is answered with the
/// CORS headers; other origins get none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_wildcard_origins_only() {
    let ports = SloopPorts::new();
    let http_extra = [
        "cors:",
        "  allowed_origins: [\"https://*.example.com\", \"http://localhost:3000\"]",
        "  allowed_headers: [X-Tenant]",
        "  max_age: 600",
    ];
    let sloop = Sloop::start(&config(&ports, &[], &http_extra), &ports).await;
    let client = reqwest::Client::builder().no_proxy().build().expect("reqwest client");
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, ports.http_url("/v1/traces"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type,x-tenant")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.expect("preflight");
    assert!(allowed.status().is_success(), "preflight answered {}", allowed.status());
    let header = |name: &str| {
        allowed
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    assert_eq!(
        header("access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(header("access-control-max-age").as_deref(), Some("600"));
    let allowed_headers = header("access-control-allow-headers").unwrap_or_default();
    assert!(
        allowed_headers.contains("content-type") && allowed_headers.contains("x-tenant"),
        "{allowed_headers}"
    );
    assert!(header("access-control-allow-methods")
        .unwrap_or_default()
        .contains("post"));

    for origin in [
        "https://evil.com",
        "https://example.com",
        "https://app.example.com.evil.com",
    ] {
        let refused = preflight(origin).await.expect("preflight");
        assert!(
            refused.headers().get("access-control-allow-origin").is_none(),
            "{origin} was allowed"
        );
    }

    // The export itself carries the header for an allowed origin only.
    let export = |origin: &'static str| {
        client
            .post(ports.http_url("/v1/traces"))
            .header("Origin", origin)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(trace_request("cors", 1).encode_to_vec())
            .send()
    };
    let response = export("http://localhost:3000").await.expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://localhost:3000")
    );
    let response = export("https://evil.com").await.expect("export");
    assert!(response.headers().get("access-control-allow-origin").is_none());
    drop(sloop);
}

/// A gRPC connection with no request in flight for `max_connection_idle` is closed
/// (with GOAWAY), and the client reconnects for its next export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_connections_idle_past_max_connection_idle_are_closed() {
    let ports = SloopPorts::new();
    let grpc_extra = [
        "max_concurrent_streams: 10",
        "keepalive:",
        "  server_parameters:",
        "    max_connection_idle: 1s",
        "    time: 30s",
        "    timeout: 5s",
    ];
    let sloop = Sloop::start(&config(&ports, &grpc_extra, &[]), &ports).await;
    let mut client = TraceServiceClient::connect(ports.grpc_url()).await.expect("connecting");
    client.export(trace_request("idle", 1)).await.expect("first export");
    let closed = poll_until(Duration::from_secs(6), Duration::from_millis(200), || async {
        let idle = sloop
            .metric("sloop_receiver_connections_closed", &[("reason", "idle")])
            .await;
        (idle >= 1.0).then_some(())
    })
    .await;
    assert!(
        closed.is_some(),
        "the idle gRPC connection was not closed\n{}",
        sloop.logs()
    );
    // The channel reconnects by itself.
    let again = poll_until(Duration::from_secs(5), Duration::from_millis(100), || {
        let mut client = client.clone();
        async move { client.export(trace_request("idle", 1)).await.ok() }
    })
    .await;
    assert!(again.is_some(), "the client could not export after the close");
}

/// A gRPC connection reaching `max_connection_age` gets GOAWAY and is closed; the
/// client carries on over a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_connections_past_max_connection_age_are_closed() {
    let ports = SloopPorts::new();
    let grpc_extra = [
        "keepalive:",
        "  server_parameters:",
        "    max_connection_age: 1s",
        "    max_connection_age_grace: 2s",
    ];
    let sloop = Sloop::start(&config(&ports, &grpc_extra, &[]), &ports).await;
    let mut client = TraceServiceClient::connect(ports.grpc_url()).await.expect("connecting");
    client.export(trace_request("age", 1)).await.expect("first export");
    let aged = poll_until(Duration::from_secs(6), Duration::from_millis(200), || async {
        let aged = sloop
            .metric("sloop_receiver_connections_closed", &[("reason", "max_connection_age")])
            .await;
        (aged >= 1.0).then_some(())
    })
    .await;
    assert!(aged.is_some(), "the connection was not aged out\n{}", sloop.logs());
    let again = poll_until(Duration::from_secs(5), Duration::from_millis(100), || {
        let mut client = client.clone();
        async move { client.export(trace_request("age", 1)).await.ok() }
    })
    .await;
    assert!(again.is_some(), "the client could not export after the close");
}
