//! CPU time and memory of the process under test, read from Linux's `/proc`.

use std::time::Duration;

/// Clock ticks per second for `/proc/<pid>/stat` times. USER_HZ is 100 on every
/// Linux architecture sloop targets (the kernel's ABI fixes it; `getconf CLK_TCK`).
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time the process (all its threads) has used so far.
pub fn cpu_time(pid: u32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
        .ok_or_else(|| format!("/proc/{pid}/stat: unexpected format"))
}

/// utime + stime (fields 14 and 15) from a `/proc/<pid>/stat` line. The command
/// name (field 2) may contain spaces and parentheses, so fields are counted from
/// its closing parenthesis.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state is field 3, so utime (14) is the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Memory figures from `/proc/<pid>/status`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now (`VmRSS`).
    pub rss: u64,
    /// Peak resident set size since the process started (`VmHWM`).
    pub peak_rss: u64,
}

/// The process's current and peak resident memory.
pub fn memory(pid: u32) -> Result<Memory, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    parse_memory(&status).ok_or_else(|| format!("/proc/{pid}/status: no VmRSS/VmHWM"))
}

fn parse_memory(status: &str) -> Option<Memory> {
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    };
    Some(Memory {
        rss: kib("VmRSS:")? * 1024,
        peak_rss: kib("VmHWM:")? * 1024,
    })
}

/// Bytes the process has caused to be written to files so far (`write_bytes` in
/// `/proc/<pid>/io`). The kernel counts a page when the process dirties it, so this
/// is file data only (no sockets or pipes), in whole pages, and a page written
/// again after it was synced (`fsync: true`) counts again.
pub fn write_bytes(pid: u32) -> Result<u64, String> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).map_err(|e| format!("/proc/{pid}/io: {e}"))?;
    parse_write_bytes(&io).ok_or_else(|| format!("/proc/{pid}/io: no write_bytes"))
}

fn parse_write_bytes(io: &str) -> Option<u64> {
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_ticks_past_a_name_with_spaces() {
        let stat = "4242 (sloop (x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 731 95 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(731 + 95));
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let busy: u64 = (0..2_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert!(busy > 0);
        cpu_time(pid).unwrap();
        let memory = memory(pid).unwrap();
        assert!(memory.rss > 0 && memory.peak_rss >= memory.rss, "{memory:?}");
    }

    #[test]
    fn parses_write_bytes_not_cancelled_write_bytes() {
        let io = "rchar: 10\nwchar: 20\nwrite_bytes: 8192\ncancelled_write_bytes: 4096\n";
        assert_eq!(parse_write_bytes(io), Some(8192));
        write_bytes(std::process::id()).unwrap();
    }

    #[test]
    fn parses_memory_lines() {
        let status = "Name:\tsloop\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                rss: 20480 * 1024,
                peak_rss: 40960 * 1024
            })
        );
    }
}
