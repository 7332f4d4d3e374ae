//! `sloop-bench filelog`: how many nginx access-log lines per second sloop takes
//! through `filelog` (format `nginx_combined`) → `sli` → `slo` on one core (issue 16).
//!
//! The harness writes a log of `lines` lines first (a mix of pages, statuses,
//! timings and user agents, bots among them), then starts sloop on it with
//! `start_at: beginning`, pinned to one CPU with `taskset` and one Tokio worker
//! thread, and polls `otelcol_receiver_accepted_log_records` until every line is
//! in. The figure is lines over the time from the first accepted line to the last
//! (start-up left out), and lines per CPU-second of the process over the same span.
//! The SLO's total is checked against the log's own count of eligible lines, so
//! a run that parsed wrongly cannot report a rate.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::procfs;
use crate::{free_port, metric_sum};

/// What one run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FilelogResult {
    /// Lines in the file.
    pub lines: u64,
    /// Wall-clock seconds from the first accepted line to the last.
    pub seconds: f64,
    /// Lines per second over that span.
    pub lines_per_second: f64,
    /// CPU seconds of the sloop process over that span.
    pub cpu_seconds: f64,
    /// Lines per CPU-second.
    pub lines_per_cpu_second: f64,
    /// The CPU sloop was pinned to, if it was.
    pub cpu: Option<usize>,
}

/// One nginx `combined` line of the mix, logged at `unix_seconds`; every seventh a
/// bot, every tenth a 5xx.
pub fn nginx_line(i: u64, unix_seconds: u64) -> String {
    const PATHS: [&str; 6] = [
        "/",
        "/static/app.3f2a1c.js",
        "/api/cart?id=42&currency=EUR",
        "/api/checkout",
        "/products/1234/reviews?page=2",
        "/search?q=blue+shoes",
    ];
    const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const BOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let path = PATHS[(i % PATHS.len() as u64) as usize];
    let status = if i % 10 == 9 {
        502
    } else if i % 17 == 5 {
        404
    } else {
        200
    };
    let agent = if i % 7 == 3 { BOT } else { BROWSER };
    let method = if i.is_multiple_of(13) { "POST" } else { "GET" };
    format!(
        "10.{}.{}.{} - - [{}] \"{method} {path} HTTP/1.1\" {status} {} \"https://shop.example.com/\" \"{agent}\"",
        (i >> 16) & 255,
        (i >> 8) & 255,
        i & 255,
        nginx_time(unix_seconds),
        512 + i % 4096,
    )
}

/// `$time_local` in UTC: `02/Dec/2026:20:15:07 +0000`.
fn nginx_time(unix_seconds: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = civil_from_days((unix_seconds / 86_400) as i64);
    let second = unix_seconds % 86_400;
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        second / 3600,
        (second / 60) % 60,
        second % 60
    )
}

/// (year, month 1–12, day) of a count of days since 1970-01-01, by Howard
/// Hinnant's `civil_from_days` (public domain algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The SLI the benchmark's config applies: GET, not a bot; good below 500.
fn counts(lines: u64) -> (u64, u64) {
    let (mut eligible, mut good) = (0, 0);
    for i in 0..lines {
        if !i.is_multiple_of(13) && i % 7 != 3 {
            eligible += 1;
            if i % 10 != 9 {
                good += 1;
            }
        }
    }
    (eligible, good)
}

fn config(log: &Path, telemetry: u16, health: u16) -> String {
    format!(
        r#"receivers:
  filelog:
    include: [{log}]
    start_at: beginning
    format: nginx_combined
processors:
  sli:
    slis:
      - name: site
        when: 'attributes["http.request.method"] == "GET"'
        exclude:
          - 'IsMatch(attributes["user_agent.original"], "(?i)bot|crawler|spider")'
        good: 'attributes["http.response.status_code"] < 500'
  slo:
    objectives:
      - name: site
        sli: site
        target: 0.99
        window: 30d
exporters:
  nop:
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  pipelines:
    logs:
      receivers: [filelog]
      processors: [sli, slo]
      exporters: [nop]
"#,
        log = log.display()
    )
}

/// Writes the log, runs sloop over it, and measures.
pub async fn run(sloop: &Path, lines: u64, cpu: Option<usize>) -> Result<FilelogResult, String> {
    let dir = std::env::temp_dir().join(format!("sloop-bench-filelog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let log = dir.join("access.log");
    write_log(&log, lines)?;
    let (telemetry, health) = (free_port(), free_port());
    let config_path = dir.join("config.yaml");
    std::fs::write(&config_path, config(&log, telemetry, health)).map_err(|e| e.to_string())?;
    let mut child = spawn(sloop, &config_path, cpu, &dir)?;
    let outcome = measure(&mut child, lines, telemetry).await;
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let result = outcome.map(|(seconds, cpu_seconds)| FilelogResult {
        lines,
        seconds,
        lines_per_second: lines as f64 / seconds,
        cpu_seconds,
        lines_per_cpu_second: lines as f64 / cpu_seconds.max(0.01),
        cpu,
    });
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result.map_err(|e| format!("{e} (logs in {})", dir.display()))
}

fn write_log(path: &Path, lines: u64) -> Result<(), String> {
    // An hour ago onwards, a thousand lines a second: inside the SLO's window and
    // not in the future for runs of up to 3.6 million lines.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let mut text = String::with_capacity(lines as usize * 230);
    for i in 0..lines {
        let _ = writeln!(text, "{}", nginx_line(i, now - 3600 + i / 1000));
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn spawn(sloop: &Path, config: &Path, cpu: Option<usize>, dir: &Path) -> Result<Child, String> {
    let log = |name: &str| std::fs::File::create(dir.join(name)).map_err(|e| e.to_string());
    let mut command = match cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.args(["-c", &cpu.to_string()]).arg(sloop);
            command
        }
        None => Command::new(sloop),
    };
    command
        .arg("--config")
        .arg(config)
        .env("TOKIO_WORKER_THREADS", "1")
        .stdin(Stdio::null())
        .stdout(log("stdout.log")?)
        .stderr(log("stderr.log")?)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", sloop.display()))
}

/// Polls the accepted count until `lines`; returns (wall seconds, CPU seconds)
/// from the first accepted line to the last.
async fn measure(child: &mut Child, lines: u64, telemetry: u16) -> Result<(f64, f64), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let metrics_url = format!("http://127.0.0.1:{telemetry}/metrics");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut first: Option<(Instant, Duration)> = None;
    loop {
        if Instant::now() > deadline {
            return Err(format!("not every line was accepted within 10 minutes ({lines} lines)"));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("sloop exited with {status}"));
        }
        let accepted = match client.get(&metrics_url).send().await {
            Ok(response) => metric_sum(
                &response.text().await.unwrap_or_default(),
                "otelcol_receiver_accepted_log_records",
                &[],
            ) as u64,
            Err(_) => 0,
        };
        let now = (Instant::now(), procfs::cpu_time(pid)?);
        if accepted > 0 && first.is_none() {
            first = Some(now);
        }
        if accepted >= lines {
            let (start, cpu_start) = first.unwrap_or(now);
            let seconds = now.0.duration_since(start).as_secs_f64();
            let cpu_seconds = now.1.saturating_sub(cpu_start).as_secs_f64();
            check_totals(&client, telemetry, lines).await?;
            return Ok((seconds.max(0.001), cpu_seconds));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The SLO's totals must be the log's: a wrong parse cannot pass as fast.
async fn check_totals(client: &reqwest::Client, telemetry: u16, lines: u64) -> Result<(), String> {
    let (eligible, good) = counts(lines);
    let url = format!("http://127.0.0.1:{telemetry}/api/v1/slos/site");
    let body = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("{url}: {e}: {body}"))?;
    let got = (json["total"].as_f64(), json["good"].as_f64());
    if got != (Some(eligible as f64), Some(good as f64)) {
        return Err(format!(
            "the SLO counted {got:?}; the log has {eligible} eligible, {good} good"
        ));
    }
    Ok(())
}

/// The report line for BENCHMARKS.md.
pub fn markdown(results: &[FilelogResult]) -> String {
    let mut out = String::from(
        "| run | lines | seconds | lines/s | CPU s | lines per CPU-second | pinned to |\n|---|---|---|---|---|---|---|\n",
    );
    for (i, r) in results.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.0} | {:.2} | {:.0} | {} |",
            i + 1,
            r.lines,
            r.seconds,
            r.lines_per_second,
            r.cpu_seconds,
            r.lines_per_cpu_second,
            r.cpu.map_or_else(|| "-".to_string(), |c| format!("cpu {c}"))
        );
    }
    out
}

/// Where the harness finds sloop: `SLOOP_BIN`, else next to itself.
pub fn sloop_path() -> PathBuf {
    crate::sloop_bin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_time_is_the_calendar_date() {
        assert_eq!(nginx_time(0), "01/Jan/1970:00:00:00 +0000");
        // 2026-12-02T20:15:07Z
        assert_eq!(nginx_time(1_796_242_507), "02/Dec/2026:20:15:07 +0000");
        // 2024-02-29T23:59:59Z, a leap day.
        assert_eq!(nginx_time(1_709_251_199), "29/Feb/2024:23:59:59 +0000");
    }
}
