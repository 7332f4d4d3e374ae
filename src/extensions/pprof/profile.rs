//! Recording a CPU profile with pprof-rs and encoding it as Go's `net/http/pprof`
//! serves one: a gzip'd `perftools.profiles.Profile` protobuf.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use pprof::protos::Message;

/// Samples per second, as Go's CPU profiler takes.
const FREQUENCY: i32 = 100;

/// Libraries whose frames the sampler does not unwind through: unwinding inside
/// them from a signal handler can deadlock (pprof-rs's advice).
const BLOCKLIST: &[&str] = &["libc", "libgcc", "pthread", "vdso"];

/// Whether a CPU profile is being recorded. Process-wide because the profiler is:
/// pprof-rs samples the whole process with one `SIGPROF` timer.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// The right to record, held for as long as one recording runs.
#[derive(Debug)]
pub struct Recording(());

impl Recording {
    /// The right to record, or `None` while another recording runs.
    pub fn try_begin() -> Option<Self> {
        RECORDING
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| Recording(()))
    }

    /// Samples the process until `stop` says so (a message, or its sender dropped)
    /// or `limit` has passed, then returns the profile, gzip'd. Blocks: run it on a
    /// blocking thread.
    pub fn record(self, stop: &Receiver<()>, limit: Duration) -> Result<Vec<u8>, String> {
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(FREQUENCY)
            .blocklist(BLOCKLIST)
            .build()
            .map_err(|e| format!("cannot start the CPU profiler: {e}"))?;
        // Returns on a message, on the sender dropped (the client went away) or on
        // timeout: all three end the recording.
        let _ = stop.recv_timeout(limit);
        let report = guard
            .report()
            .build()
            .map_err(|e| format!("cannot build the CPU profile: {e}"))?;
        drop(guard);
        let profile = report
            .pprof()
            .map_err(|e| format!("cannot encode the CPU profile: {e}"))?;
        gzip(&profile.encode_to_vec())
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        RECORDING.store(false, Ordering::SeqCst);
    }
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| format!("cannot compress the CPU profile: {e}"))
}

/// The longest profile `/debug/pprof/profile` records, in seconds.
pub const MAX_SECONDS: u64 = 300;

/// Go's default length of a profile, in seconds.
pub const DEFAULT_SECONDS: u64 = 30;

/// The length of profile asked for by the `seconds` query parameter: a whole
/// number from 1 to [`MAX_SECONDS`], [`DEFAULT_SECONDS`] when absent.
pub fn requested_duration(seconds: Option<&str>) -> Result<Duration, String> {
    let Some(text) = seconds else {
        return Ok(Duration::from_secs(DEFAULT_SECONDS));
    };
    match text.trim().parse::<u64>() {
        Ok(n) if (1..=MAX_SECONDS).contains(&n) => Ok(Duration::from_secs(n)),
        _ => Err(format!(
            "seconds: expected a whole number of seconds from 1 to {MAX_SECONDS}, got {text:?}"
        )),
    }
}
