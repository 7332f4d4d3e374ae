//! Running the real `sloop` binary as a child process.
//!
//! [`Sloop`] owns one child process. Its stdout and stderr go to files in a
//! private temp directory (next to the config files it was started with).
//! When the handle is dropped the child is killed; if the drop happens while
//! the test thread is panicking, both logs are printed to stderr first so a
//! failing test shows what sloop said.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::free_port;

/// How many times readiness is polled after spawning, and how long apart.
const READY_ATTEMPTS: u32 = 100;
const READY_INTERVAL: Duration = Duration::from_millis(100);

/// Path of the `sloop` binary under test.
///
/// `SLOOP_BIN` overrides it. Otherwise it is `target/debug/sloop` (or the
/// profile directory the test binary itself was built into): test binaries
/// live in `target/<profile>/deps/`, so the binary is `../sloop` from there.
///
/// # Panics
/// If the binary does not exist, with a hint to build it first.
pub fn sloop_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("SLOOP_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SLOOP_BIN points at {}, which is not a file",
            path.display()
        );
        return path;
    }
    let exe = std::env::current_exe().expect("locating the running test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| {
            if deps.file_name().is_some_and(|name| name == "deps") {
                deps.parent()
            } else {
                Some(deps)
            }
        })
        .expect("the test executable has no parent directory");
    let bin = profile_dir.join(format!("sloop{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the sloop binary was not found at {}; run `cargo build --bin sloop` first \
         (or point SLOOP_BIN at it)",
        bin.display()
    );
    bin
}

/// The loopback ports of one sloop instance's own listeners, all free at
/// allocation time: the OTLP receiver's gRPC and HTTP endpoints, the
/// `health_check` extension and the self-telemetry (Prometheus) endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SloopPorts {
    pub grpc: u16,
    pub http: u16,
    pub health: u16,
    pub telemetry: u16,
}

impl SloopPorts {
    /// Allocates four distinct free ports.
    pub fn new() -> Self {
        SloopPorts {
            grpc: free_port(),
            http: free_port(),
            health: free_port(),
            telemetry: free_port(),
        }
    }

    /// `http://127.0.0.1:<grpc>`, the URL gRPC clients connect to.
    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }

    /// `http://127.0.0.1:<http><path>`, e.g. `http_url("/v1/traces")`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.http, path)
    }

    /// The `receivers:` section: one `otlp` receiver with gRPC and HTTP
    /// endpoints on these ports. `grpc_extra` / `http_extra` are extra
    /// `key: value` lines for the respective protocol section (e.g.
    /// `"max_recv_msg_size_mib: 1"`).
    pub fn otlp_receiver_yaml(&self, grpc_extra: &[&str], http_extra: &[&str]) -> String {
        let mut yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{}\n",
            self.grpc
        );
        for line in grpc_extra {
            yaml.push_str(&format!("        {line}\n"));
        }
        yaml.push_str(&format!("      http:\n        endpoint: 127.0.0.1:{}\n", self.http));
        for line in http_extra {
            yaml.push_str(&format!("        {line}\n"));
        }
        yaml
    }

    /// The `extensions:` and `service:` sections: `health_check` and the
    /// self-telemetry address on these ports, `shutdown_timeout: 10s`, and
    /// traces, metrics and logs pipelines that all go from the `otlp`
    /// receiver through `processors` to `exporters`.
    pub fn service_yaml(&self, processors: &[&str], exporters: &[&str]) -> String {
        self.service_yaml_for(&["traces", "metrics", "logs"], processors, exporters)
    }

    /// [`service_yaml`](Self::service_yaml) with a traces pipeline only, for
    /// processors that take spans alone (`sli` and `slo` on spans).
    pub fn traces_service_yaml(&self, processors: &[&str], exporters: &[&str]) -> String {
        self.service_yaml_for(&["traces"], processors, exporters)
    }

    fn service_yaml_for(&self, signals: &[&str], processors: &[&str], exporters: &[&str]) -> String {
        let processors = processors.join(", ");
        let exporters = exporters.join(", ");
        let mut yaml = format!(
            "extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health}\n\
             service:\n  extensions: [health_check]\n  telemetry:\n    metrics:\n      \
             address: 127.0.0.1:{telemetry}\n  shutdown_timeout: 10s\n  pipelines:\n",
            health = self.health,
            telemetry = self.telemetry
        );
        for signal in signals {
            yaml.push_str(&format!(
                "    {signal}:\n      receivers: [otlp]\n      processors: [{processors}]\n      \
                 exporters: [{exporters}]\n"
            ));
        }
        yaml
    }
}

impl Default for SloopPorts {
    fn default() -> Self {
        Self::new()
    }
}

/// A running (or finished) `sloop` child process.
pub struct Sloop {
    child: Child,
    dir: PathBuf,
    health_port: Option<u16>,
    telemetry_port: Option<u16>,
    exit: Option<ExitStatus>,
    http: reqwest::Client,
    /// Set once the harness put the logs into a panic message, so `Drop`
    /// does not print them a second time.
    logs_shown: AtomicBool,
}

impl Sloop {
    /// Starts `sloop --config <file>` with `yaml` as the config, then waits
    /// until `GET http://127.0.0.1:<ports.health>/` answers 200.
    ///
    /// # Panics
    /// If the process cannot be spawned, exits before becoming ready, or is
    /// not ready after 100 polls 100 ms apart (logs are printed).
    pub async fn start(yaml: &str, ports: &SloopPorts) -> Sloop {
        Self::start_with_configs(&[yaml], ports).await
    }

    /// Like [`Sloop::start`], with one `--config` per element of `yamls`.
    pub async fn start_with_configs(yamls: &[&str], ports: &SloopPorts) -> Sloop {
        Self::start_with_env(yamls, ports, &[]).await
    }

    /// Like [`Sloop::start`], with extra command-line arguments before the
    /// `--config` ones (e.g. `--watch-config`).
    pub async fn start_with_args(args: &[&str], yaml: &str, ports: &SloopPorts) -> Sloop {
        let mut sloop = Self::spawn(args, &[yaml]);
        sloop.health_port = Some(ports.health);
        sloop.telemetry_port = Some(ports.telemetry);
        sloop.wait_ready().await;
        sloop
    }

    /// Like [`Sloop::start_with_configs`], with extra environment variables for
    /// the child (e.g. `TOKIO_WORKER_THREADS`).
    pub async fn start_with_env(yamls: &[&str], ports: &SloopPorts, env: &[(&str, &str)]) -> Sloop {
        let mut sloop = Self::spawn_with_env(&[] as &[&str], yamls, env);
        sloop.health_port = Some(ports.health);
        sloop.telemetry_port = Some(ports.telemetry);
        sloop.wait_ready().await;
        sloop
    }

    /// Like [`Sloop::start`], but waits until the OTLP/gRPC port accepts
    /// connections (receivers start last, so everything else has started) instead
    /// of for readiness: for a sloop that runs but is not ready, such as one whose
    /// `memory_limiter` refuses data from the start.
    ///
    /// # Panics
    /// As [`Sloop::start`].
    pub async fn start_unready(yaml: &str, ports: &SloopPorts) -> Sloop {
        let mut sloop = Self::spawn(&[] as &[&str], &[yaml]);
        sloop.health_port = Some(ports.health);
        sloop.telemetry_port = Some(ports.telemetry);
        for _ in 0..READY_ATTEMPTS {
            if let Some(status) = sloop.try_exit_status() {
                panic!("sloop exited with {status} before listening\n{}", sloop.failure_logs());
            }
            if crate::port_is_open(ports.grpc) {
                return sloop;
            }
            tokio::time::sleep(READY_INTERVAL).await;
        }
        panic!(
            "sloop did not listen on {} within {:?}\n{}",
            ports.grpc,
            READY_INTERVAL * READY_ATTEMPTS,
            sloop.failure_logs()
        );
    }

    /// Spawns `sloop <args...> --config <f1> --config <f2> ...` without
    /// waiting for anything. Each element of `yamls` is written to its own
    /// file in the instance's temp dir first.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(args: &[S], yamls: &[&str]) -> Sloop {
        Self::spawn_with_env(args, yamls, &[])
    }

    /// Like [`Sloop::spawn`], with extra environment variables for the child.
    pub fn spawn_with_env<S: AsRef<std::ffi::OsStr>>(args: &[S], yamls: &[&str], env: &[(&str, &str)]) -> Sloop {
        let bin = sloop_bin();
        let dir = unique_temp_dir();
        let mut command_args: Vec<OsString> = args.iter().map(|a| a.as_ref().into()).collect();
        for (i, yaml) in yamls.iter().enumerate() {
            let path = dir.join(format!("config-{i}.yaml"));
            fs::write(&path, yaml).unwrap_or_else(|e| panic!("writing config file {}: {e}", path.display()));
            command_args.push("--config".into());
            command_args.push(path.into());
        }
        let stdout = File::create(dir.join("stdout.log")).expect("creating stdout.log");
        let stderr = File::create(dir.join("stderr.log")).expect("creating stderr.log");
        fs::write(
            dir.join("command.txt"),
            format!("{} {:?}\n", bin.display(), command_args),
        )
        .expect("writing command.txt");
        let child = Command::new(&bin)
            .args(&command_args)
            .current_dir(&dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("building a reqwest client");
        Sloop {
            child,
            dir,
            health_port: None,
            telemetry_port: None,
            exit: None,
            http,
            logs_shown: AtomicBool::new(false),
        }
    }

    /// Polls the health endpoint until it returns 200 (bounded). Panics with
    /// sloop's logs if the process exits first or never becomes ready.
    pub async fn wait_ready(&mut self) {
        let port = self
            .health_port
            .expect("wait_ready needs the health_check port (use Sloop::start)");
        let url = format!("http://127.0.0.1:{port}/");
        let mut last = String::from("no attempt made");
        for _ in 0..READY_ATTEMPTS {
            if let Some(status) = self.try_exit_status() {
                panic!(
                    "sloop exited with {status} before becoming ready\n{}",
                    self.failure_logs()
                );
            }
            match self.http.get(&url).send().await {
                Ok(resp) if resp.status() == reqwest::StatusCode::OK => return,
                Ok(resp) => last = format!("HTTP {}", resp.status()),
                Err(e) => last = format!("request error: {e}"),
            }
            tokio::time::sleep(READY_INTERVAL).await;
        }
        panic!(
            "sloop did not become ready at {url} within {:?} (last: {last})\n{}",
            READY_INTERVAL * READY_ATTEMPTS,
            self.failure_logs()
        );
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The path of the `index`-th config file it was started with, to rewrite for
    /// a reload.
    pub fn config_path(&self, index: usize) -> PathBuf {
        self.dir.join(format!("config-{index}.yaml"))
    }

    /// Sends SIGHUP (reload the config) to the child (via the `kill` command).
    pub fn sighup(&self) {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.pid().to_string())
            .status()
            .expect("running `kill -HUP`");
        assert!(status.success(), "`kill -HUP {}` failed: {status}", self.pid());
    }

    /// Sends SIGTERM to the child (via the `kill` command).
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("running `kill -TERM`");
        assert!(status.success(), "`kill -TERM {}` failed: {status}", self.pid());
    }

    /// Sends SIGKILL to the child (via the `kill` command): no shutdown, no
    /// flush, no final checkpoint. Reap it with [`Sloop::wait_exit`].
    pub fn sigkill(&self) {
        let status = Command::new("kill")
            .arg("-KILL")
            .arg(self.pid().to_string())
            .status()
            .expect("running `kill -KILL`");
        assert!(status.success(), "`kill -KILL {}` failed: {status}", self.pid());
    }

    /// The exit status if the child has exited, without blocking.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("checking whether sloop has exited");
        }
        self.exit
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_exit_status().is_none()
    }

    /// Waits (polling, bounded by `timeout`) for the child to exit.
    ///
    /// # Panics
    /// If it is still running after `timeout` (logs are printed; the child is
    /// killed when the handle drops).
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "sloop (pid {}) did not exit within {timeout:?}\n{}",
                    self.pid(),
                    self.failure_logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /metrics` on the self-telemetry address; returns the body.
    ///
    /// # Panics
    /// If the instance was not started with ports, or the request fails.
    pub async fn scrape_metrics(&self) -> String {
        let port = self
            .telemetry_port
            .expect("scrape_metrics needs the telemetry port (use Sloop::start)");
        let url = format!("http://127.0.0.1:{port}/metrics");
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url} failed: {e}\n{}", self.failure_logs()));
        assert!(resp.status().is_success(), "GET {url} returned {}", resp.status());
        resp.text()
            .await
            .unwrap_or_else(|e| panic!("reading the body of GET {url}: {e}"))
    }

    /// Scrapes and returns [`crate::metric_sum`] of `name` over samples
    /// whose labels include all of `labels`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        crate::metric_sum(&self.scrape_metrics().await, name, labels)
    }

    /// The instance's temp directory (configs and logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Everything the child wrote to stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.dir.join("stdout.log"))
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.dir.join("stderr.log"))
    }

    /// [`Sloop::logs`] for the harness's own panic messages.
    fn failure_logs(&self) -> String {
        self.logs_shown.store(true, Ordering::Relaxed);
        self.logs()
    }

    /// Both logs, labelled, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "----- sloop stdout ({}) -----\n{}\n----- sloop stderr -----\n{}\n----- end of sloop logs -----",
            self.dir.display(),
            self.stdout(),
            self.stderr()
        )
    }
}

impl Drop for Sloop {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        // No `expect` in here: a panic while already panicking aborts.
        if self.exit.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if panicking && !self.logs_shown.load(Ordering::Relaxed) {
            eprintln!("{}", self.logs());
        }
        if panicking {
            eprintln!("(sloop files kept in {})", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn read_lossy(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("<could not read {}: {e}>", path.display()),
    }
}

/// A fresh directory under the system temp dir, unique per call.
pub fn unique_temp_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "sloop-it-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Runs `sloop loadgen <args...> --json` to completion (at most 60 s) and returns
/// its exit code and parsed JSON report.
///
/// # Panics
/// If loadgen cannot be run, runs longer, or prints no JSON report.
pub async fn run_loadgen<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (i32, serde_json::Value) {
    let mut command = Command::new(sloop_bin());
    command.arg("loadgen").args(args).arg("--json");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .expect("loadgen finished within 60 s")
    .expect("joining the loadgen task")
    .expect("running sloop loadgen");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "loadgen printed no JSON ({e}):\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}
