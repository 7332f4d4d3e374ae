//! SLOs from a real nginx's access log (issue 16), end to end: Debian's nginx,
//! started here on a loopback port with its own config and log directory, serves
//! fast pages, slow pages (a tiny backend behind `proxy_pass` that sleeps) and 5xx
//! pages; a real HTTP client drives a mixed load, a share of it with a bot's user
//! agent. sloop tails the real access log with the `filelog` receiver
//! (`format: nginx_combined_request_time`), and its `/api/v1/slos` totals must equal
//! an independent count of the same log files, made here with a parser of the test's
//! own.
//!
//! A line that is not nginx's is counted as malformed and skipped.
//!
//! Mid-run the log is rotated the way logrotate does it (rename, then
//! `nginx -s reopen`), and sloop is killed with SIGKILL while the load runs, then
//! started again: the totals must still equal the count, so nothing was lost and
//! nothing counted twice (the receiver resumes from the position stored with the
//! slo processor's counts; see `sloop::component::replay`).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use integration_tests::{free_port, poll_until, unique_temp_dir, Sloop, SloopPorts};
use serde_json::Value as Json;

/// What a user agent of a crawler looks like; the SLI excludes these.
const BOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
/// How long the backend sleeps for `/slow`: over the SLI's 300 ms.
const SLOW_MS: u64 = 350;

/// The backend behind `proxy_pass`: `/slow` answers after [`SLOW_MS`], `/api/fail`
/// with a 500, anything else at once with a 200. One thread per connection; stops
/// accepting when dropped.
struct Backend {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Backend {
    fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the backend");
        let port = listener.local_addr().expect("backend address").port();
        listener.set_nonblocking(true).expect("non-blocking backend listener");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        std::thread::spawn(move || serve(stream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Backend { port, stop }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // The rest of the head, up to the blank line.
    let mut line = String::new();
    while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let status = if path.starts_with("/slow") {
        std::thread::sleep(Duration::from_millis(SLOW_MS));
        "200 OK"
    } else if path.starts_with("/api/fail") {
        "500 Internal Server Error"
    } else {
        "200 OK"
    };
    let body = "backend\n";
    let _ = (&stream).write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

/// Debian's nginx, started with a config and directories of the test's own, in the
/// foreground; stopped by its process id when dropped.
struct Nginx {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Nginx {
    fn start(dir: &Path, backend: u16) -> Nginx {
        let port = free_port();
        for sub in ["logs", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("creating nginx directories");
        }
        let d = dir.display();
        // The predefined `combined` format with `$request_time` appended: what
        // `format: nginx_combined_request_time` reads.
        let config = format!(
            r#"daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format timed '$remote_addr - $remote_user [$time_local] "$request" '
                     '$status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time';
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        access_log {d}/logs/access.log timed;
        location = / {{ return 200 "home\n"; }}
        location /static/ {{ return 200 "static\n"; }}
        location /broken {{ return 503; }}
        location /slow {{ proxy_pass http://127.0.0.1:{backend}; }}
        location /api/ {{ proxy_pass http://127.0.0.1:{backend}; }}
    }}
}}
"#
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).expect("writing nginx.conf");
        let child = Command::new(nginx_bin())
            .args(["-p", &d.to_string(), "-c", &conf.display().to_string()])
            .args(["-e", &format!("{d}/error.log")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting nginx (scripts/test installs Debian's nginx): {e}"));
        Nginx {
            child,
            dir: dir.to_path_buf(),
            port,
        }
    }

    fn access_log(&self) -> PathBuf {
        self.dir.join("logs/access.log")
    }

    /// `nginx -s reopen`: the master reopens its log files (after a rename, a new
    /// `access.log`).
    fn reopen(&self) {
        let status = Command::new(nginx_bin())
            .args(["-p", &self.dir.display().to_string()])
            .args(["-c", &self.dir.join("nginx.conf").display().to_string()])
            .args(["-e", &self.dir.join("error.log").display().to_string()])
            .args(["-s", "reopen"])
            .status()
            .expect("running nginx -s reopen");
        assert!(status.success(), "nginx -s reopen: {status}");
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master's pid; it stops its worker on SIGTERM.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn nginx_bin() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// One request of the mixed load: (method, path, user agent).
fn request_mix(i: usize) -> (&'static str, &'static str, &'static str) {
    let agent = if i % 7 == 3 { BOT } else { BROWSER };
    let (method, path) = match i % 10 {
        0..=3 => ("GET", "/"),
        4 => ("GET", "/static/app.js"),
        5 => ("GET", "/slow"),
        6 => ("GET", "/broken"),
        7 => ("GET", "/api/cart?id=42"),
        8 => ("GET", "/api/fail"),
        _ => ("POST", "/"),
    };
    (method, path, agent)
}

/// Sends requests `range` of the mix to nginx, four at a time.
async fn drive(port: u16, range: std::ops::Range<usize>) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a reqwest client");
    let indices: Vec<usize> = range.collect();
    for chunk in indices.chunks(4) {
        let requests = chunk.iter().map(|&i| {
            let (method, path, agent) = request_mix(i);
            let url = format!("http://127.0.0.1:{port}{path}");
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            client.request(method, url).header("user-agent", agent).send()
        });
        for response in futures_util::future::join_all(requests).await {
            let response = response.expect("nginx answers");
            let _ = response.bytes().await;
        }
    }
}

/// The test's own count of the SLI over access log lines: (eligible, good).
/// A line is eligible when its method is GET and its user agent is not a bot's;
/// good when its status is below 500 and it took under 300 ms. Parsed here by
/// hand from nginx's documented `combined` layout plus `$request_time`, not by
/// sloop's code.
fn independent_count(files: &[PathBuf]) -> (u64, u64, u64) {
    let (mut lines, mut eligible, mut good) = (0, 0, 0);
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        for line in text.lines() {
            // $remote_addr - $remote_user [$time_local] "$request" $status ...
            let quoted: Vec<&str> = line.split('"').collect();
            if quoted.len() != 7 {
                continue; // not nginx's: the line the test writes into the log itself
            }
            lines += 1;
            let method = quoted[1].split(' ').next().unwrap_or("");
            let status: u16 = quoted[2]
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .expect("a status");
            let agent = quoted[5];
            let seconds = quoted[6].trim();
            let (whole, fraction) = seconds.split_once('.').expect("request_time has a fraction");
            let millis: u64 = whole.parse::<u64>().expect("seconds") * 1000 + fraction.parse::<u64>().expect("ms");
            let bot = ["bot", "crawler", "spider"]
                .iter()
                .any(|w| agent.to_lowercase().contains(w));
            if method == "GET" && !bot {
                eligible += 1;
                if status < 500 && millis < 300 {
                    good += 1;
                }
            }
        }
    }
    (lines, eligible, good)
}

fn config(ports: &SloopPorts, dir: &Path, logs: &Path) -> String {
    let (d, l) = (dir.display(), logs.display());
    format!(
        r#"receivers:
  filelog:
    include: [{l}/access.log*]
    start_at: beginning
    poll_interval: 100ms
    format: nginx_combined_request_time
    storage: file_storage
processors:
  sli:
    slis:
      - name: site
        when: 'attributes["http.request.method"] == "GET"'
        exclude:
          - 'IsMatch(attributes["user_agent.original"], "(?i)bot|crawler|spider")'
        good: 'attributes["http.response.status_code"] < 500 and duration < 300ms'
  slo:
    storage: {d}/slo
    checkpoint_interval: 1s
    objectives:
      - name: site
        sli: site
        target: 0.9
        window: 30d
exporters:
  nop:
extensions:
  file_storage:
    directory: {d}/offsets
    create_directory: true
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [file_storage, health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  pipelines:
    logs:
      receivers: [filelog]
      processors: [sli, slo]
      exporters: [nop]
"#,
        health = ports.health,
        telemetry = ports.telemetry,
    )
}

/// `GET /api/v1/slos/site`: (total, good).
async fn totals(ports: &SloopPorts) -> Option<(f64, f64)> {
    let url = format!("http://127.0.0.1:{}/api/v1/slos/site", ports.telemetry);
    let client = reqwest::Client::builder().no_proxy().build().ok()?;
    let body = client
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let json: Json = serde_json::from_str(&body).ok()?;
    Some((json["total"].as_f64()?, json["good"].as_f64()?))
}

/// Polls until sloop's totals are `expected`, then checks they stay there over
/// several of the receiver's polls (a batch read twice would show up then).
async fn assert_totals(ports: &SloopPorts, expected: (u64, u64), sloop: &Sloop, when: &str) {
    let want = (expected.0 as f64, expected.1 as f64);
    let last = std::sync::Mutex::new(None);
    let reached = poll_until(Duration::from_secs(60), Duration::from_millis(200), || async {
        let got = totals(ports).await;
        *last.lock().unwrap() = got;
        (got == Some(want)).then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "{when}: sloop's (total, good) is {:?}, the log says {want:?}\n{}",
        last.lock().unwrap(),
        sloop.logs()
    );
    // Ten of the receiver's polls later, still the same.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(totals(ports).await, Some(want), "{when}: totals moved after matching");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_totals_from_a_real_nginx_log_equal_an_independent_count_across_rotation_and_kill_9() {
    let dir = unique_temp_dir();
    let backend = Backend::start();
    let nginx = Nginx::start(&dir.join("nginx"), backend.port);
    let ready = poll_until(Duration::from_secs(10), Duration::from_millis(50), || async {
        TcpStream::connect(("127.0.0.1", nginx.port)).ok()
    })
    .await;
    assert!(ready.is_some(), "nginx did not listen:\n{}", nginx.error_log());

    let ports = SloopPorts::new();
    let yaml = config(&ports, &dir, &dir.join("nginx/logs"));
    let mut sloop = Sloop::start(&yaml, &ports).await;

    // Phase 1: a mixed load; sloop counts it as the log grows.
    drive(nginx.port, 0..200).await;
    let (lines, eligible, good) = independent_count(&[nginx.access_log()]);
    assert_eq!(lines, 200, "nginx logged every request");
    assert!(
        eligible > good && good > 0,
        "the mix has good and bad requests: {eligible} {good}"
    );
    assert_totals(&ports, (eligible, good), &sloop, "before rotation").await;

    // Phase 2: rotation as logrotate does it, then a kill -9 while the load runs.
    let rotated = dir.join("nginx/logs/access.log.1");
    std::fs::rename(nginx.access_log(), &rotated).expect("rotating the log");
    // Requests between the rename and the reopen still go to the renamed file.
    drive(nginx.port, 200..220).await;
    nginx.reopen();
    let reopened = poll_until(Duration::from_secs(10), Duration::from_millis(20), || async {
        nginx.access_log().exists().then_some(())
    })
    .await;
    assert!(
        reopened.is_some(),
        "nginx did not reopen its log:\n{}",
        nginx.error_log()
    );
    let load = tokio::spawn(drive(nginx.port, 220..520));
    // Kill once part of the load is in the new file and counted, mid-stream.
    let started = poll_until(Duration::from_secs(30), Duration::from_millis(20), || async {
        let text = std::fs::read_to_string(nginx.access_log()).unwrap_or_default();
        (text.lines().count() >= 100).then_some(())
    })
    .await;
    assert!(started.is_some(), "the load did not reach the new log");
    sloop.sigkill();
    sloop.wait_exit(Duration::from_secs(10)).await;
    drop(sloop);
    let sloop = Sloop::start(&yaml, &ports).await;
    load.await.expect("the load ran");

    // Phase 3: more after the restart, and a line that is not of the format (as a
    // misconfigured log_format or a stray write would leave): counted, skipped.
    drive(nginx.port, 520..560).await;
    {
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(nginx.access_log())
            .expect("opening the access log");
        log.write_all(b"this is not an access log line\n").expect("appending");
    }
    drive(nginx.port, 560..600).await;
    let (lines, eligible, good) = independent_count(&[rotated, nginx.access_log()]);
    assert_eq!(lines, 600, "nginx logged every request, across both files");
    assert_totals(&ports, (eligible, good), &sloop, "after rotation and kill -9").await;
    let malformed = sloop
        .metric(
            "otelcol_receiver_filelog_malformed_lines",
            &[("format", "nginx_combined_request_time")],
        )
        .await;
    assert_eq!(malformed, 1.0, "the stray line is counted as malformed");
    drop(sloop);
    drop(nginx);
    let _ = std::fs::remove_dir_all(&dir);
}
