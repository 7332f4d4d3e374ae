//! The end-of-run summary: counts, achieved rate, export latency percentiles and
//! errors by kind, as a table or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// What one sender task saw.
#[derive(Debug, Default)]
pub struct SenderStats {
    /// Export latency of every finished request, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Failed requests (and partial-success rejections) by kind, e.g. `grpc Unavailable`, `http 503`.
    pub errors: BTreeMap<String, u64>,
}

impl SenderStats {
    /// Counts one occurrence of `kind`.
    pub fn count_error(&mut self, kind: String, n: u64) {
        *self.errors.entry(kind).or_default() += n;
    }
}

/// Export latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest request.
    pub max: f64,
}

impl LatencySummary {
    /// Sorts `micros` and reads the percentiles (nearest rank).
    pub fn from_micros(micros: &mut [u32]) -> Self {
        if micros.is_empty() {
            return Self::default();
        }
        micros.sort_unstable();
        let rank = |q: f64| {
            let i = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len()) - 1;
            f64::from(micros[i]) / 1000.0
        };
        Self {
            p50: rank(0.50),
            p99: rank(0.99),
            max: f64::from(micros[micros.len() - 1]) / 1000.0,
        }
    }
}

/// The result of a run (`--json` prints exactly this).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `grpc` or `http`.
    pub protocol: String,
    /// Where the requests went.
    pub endpoint: String,
    /// Wall time from the first send to the last answer, in seconds.
    pub duration_seconds: f64,
    /// Export requests sent.
    pub requests_sent: u64,
    /// Requests answered with success (possibly partial).
    pub requests_ok: u64,
    /// Requests that failed (error status, transport error or timeout).
    pub requests_failed: u64,
    /// Spans in all sent requests.
    pub spans_sent: u64,
    /// Spans in successful responses minus those a partial success rejected.
    pub spans_accepted: u64,
    /// Spans rejected by partial-success responses.
    pub spans_rejected: u64,
    /// `spans_accepted / duration_seconds`.
    pub spans_per_second: f64,
    /// Export latency, in milliseconds.
    pub latency_ms: LatencySummary,
    /// Errors by kind: `grpc <Code>`, `http <status>`, `timeout`, `transport`, `partial_success`.
    pub errors: BTreeMap<String, u64>,
}

impl Report {
    /// Everything sent was accepted.
    pub fn all_accepted(&self) -> bool {
        self.requests_failed == 0 && self.spans_rejected == 0 && self.spans_accepted == self.spans_sent
    }

    /// Builds the report from the counters and the merged per-sender stats.
    pub(crate) fn new(
        protocol: &str,
        endpoint: &str,
        elapsed: Duration,
        counters: Counts,
        mut stats: SenderStats,
    ) -> Self {
        let seconds = elapsed.as_secs_f64();
        Self {
            protocol: protocol.to_string(),
            endpoint: endpoint.to_string(),
            duration_seconds: seconds,
            requests_sent: counters.requests_sent,
            requests_ok: counters.requests_ok,
            requests_failed: counters.requests_failed,
            spans_sent: counters.spans_sent,
            spans_accepted: counters.spans_accepted,
            spans_rejected: counters.spans_rejected,
            spans_per_second: if seconds > 0.0 {
                counters.spans_accepted as f64 / seconds
            } else {
                0.0
            },
            latency_ms: LatencySummary::from_micros(&mut stats.latencies_us),
            errors: stats.errors,
        }
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "endpoint      {} ({})", self.endpoint, self.protocol);
        let _ = writeln!(out, "duration      {:.2} s", self.duration_seconds);
        let _ = writeln!(
            out,
            "requests      sent {}  ok {}  failed {}",
            self.requests_sent, self.requests_ok, self.requests_failed
        );
        let _ = writeln!(
            out,
            "spans         sent {}  accepted {}  rejected {}",
            self.spans_sent, self.spans_accepted, self.spans_rejected
        );
        let _ = writeln!(out, "throughput    {:.0} spans/s", self.spans_per_second);
        let _ = writeln!(
            out,
            "latency       p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            self.latency_ms.p50, self.latency_ms.p99, self.latency_ms.max
        );
        if self.errors.is_empty() {
            let _ = writeln!(out, "errors        none");
        } else {
            for (i, (kind, n)) in self.errors.iter().enumerate() {
                let label = if i == 0 { "errors" } else { "" };
                let _ = writeln!(out, "{label:<14}{kind}: {n}");
            }
        }
        out
    }
}

/// The shared counters, read once at the end.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub requests_sent: u64,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub spans_sent: u64,
    pub spans_accepted: u64,
    pub spans_rejected: u64,
}
