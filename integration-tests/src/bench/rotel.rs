//! The peer: Rotel's `rotel-agent` (`pip install rotel==0.0.1a15`, whose binary
//! reports `rotel 0.0.1-alpha10`), run as the real binary in the foreground, as a
//! child the harness stops by pid.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::scenarios::Compression;
use crate::free_port;

/// A running `rotel-agent start`; killed on drop.
pub struct Rotel {
    child: Child,
    port: u16,
}

impl Rotel {
    /// Spawns `rotel-agent` listening for OTLP/gRPC (and, because it always
    /// listens for OTLP/HTTP, on a second free port), batching at 8192 spans or
    /// 200 ms like sloop's passthrough, and exporting OTLP/gRPC to `backend`
    /// (`host:port`) with `compression`. Its pid and log files go to `dir`.
    /// Returns at once; [`Rotel::wait_listening`] waits for the port.
    pub fn spawn(bin: &Path, backend: &str, compression: Compression, dir: &Path) -> Result<Self, String> {
        let port = free_port();
        let http_port = free_port();
        let file = |name: &str| -> PathBuf { dir.join(name) };
        let stdout = std::fs::File::create(file("rotel.stdout")).map_err(|e| format!("rotel.stdout: {e}"))?;
        let stderr = std::fs::File::create(file("rotel.stderr")).map_err(|e| format!("rotel.stderr: {e}"))?;
        let child = Command::new(bin)
            .arg("start")
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{port}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
            .args(["--exporter", "otlp"])
            .args(["--otlp-exporter-endpoint", &format!("http://{backend}")])
            .args(["--otlp-exporter-protocol", "grpc"])
            // rotel 0.0.1-alpha10 still sends gzip when told `none` (both flags):
            // the sink's grpc-encoding check reports it as a loss of that phase.
            .args(["--otlp-exporter-compression", compression.name()])
            .args(["--otlp-exporter-traces-compression", compression.name()])
            .args(["--batch-max-size", "8192", "--batch-timeout", "200ms"])
            .args(["--pid-file"])
            .arg(file("rotel.pid"))
            .args(["--log-file"])
            .arg(file("rotel.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| format!("starting rotel-agent ({}): {e}", bin.display()))?;
        Ok(Self { child, port })
    }

    /// Polls (every 50 ms, at most 10 s) until the gRPC port accepts connections;
    /// an error with Rotel's output if it exits or never listens.
    pub async fn wait_listening(&mut self, dir: &Path) -> Result<(), String> {
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("rotel-agent exited with {status}: {}", output(dir)));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "rotel-agent did not listen on {} within 10s: {}",
            self.port,
            output(dir)
        ))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where to send OTLP/gRPC.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn output(dir: &Path) -> String {
    ["rotel.stdout", "rotel.stderr", "rotel.log"]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            format!("\n--- {name}:\n{}", text.trim_end())
        })
        .collect()
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
