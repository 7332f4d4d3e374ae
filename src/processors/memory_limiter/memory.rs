//! Reading the process's memory usage and the memory it may use, from procfs and
//! cgroupfs (Linux). Each reader is a thin file read around a parser that takes the
//! file's text, so the parsers are tested on sample text.
//!
//! These are small pseudo-files served from kernel memory: reading one does not wait
//! on a disk, so the sampler reads them directly on its task.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// How to read live heap bytes; set once by the binary, which owns the global allocator.
static LIVE_HEAP: OnceLock<fn() -> u64> = OnceLock::new();

/// Tells every `memory_limiter` how to read the bytes the global allocator holds for
/// the program (live heap bytes). The `sloop` binary calls this first thing in `main`
/// with its counting allocator (`cap::Cap`); a library user without one does not, and
/// its limiters measure RSS alone, as they say in their start-up log line. Only the
/// first call counts: there is one global allocator.
pub fn measure_live_heap_with(read: fn() -> u64) {
    let _ = LIVE_HEAP.set(read);
}

/// The reader registered with [`measure_live_heap_with`], if any.
pub fn live_heap_reader() -> Option<fn() -> u64> {
    LIVE_HEAP.get().copied()
}

/// The process's resident set size in bytes, from `VmRSS` in `/proc/self/status`.
pub fn resident_set_size() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    parse_kib_field(&status, "VmRSS:").ok_or_else(|| invalid("no VmRSS line in /proc/self/status"))
}

/// The memory this process may use, in bytes: the smallest cgroup memory limit on
/// its cgroup's path (v2 `memory.max` or v1 `memory.limit_in_bytes`), capped by
/// `MemTotal` in `/proc/meminfo`.
pub fn total_memory() -> io::Result<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    let physical =
        parse_kib_field(&meminfo, "MemTotal:").ok_or_else(|| invalid("no MemTotal line in /proc/meminfo"))?;
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let limit = cgroup_limit_files(&cgroups, Path::new("/sys/fs/cgroup"))
        .iter()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .filter_map(|text| parse_cgroup_limit(&text))
        .min();
    Ok(limit.map_or(physical, |limit| limit.min(physical)))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A `Key:   1234 kB` line of `/proc/self/status` or `/proc/meminfo`, in bytes.
pub fn parse_kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(key))?;
    let mut words = line[key.len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(1024),
        _ => None,
    }
}

/// Every cgroup limit file that may bound this process, given `/proc/self/cgroup` and
/// where cgroupfs is mounted: the file of its own cgroup and of each ancestor (a limit
/// can be set higher up), for cgroup v2 (`0::/path`) and the v1 `memory` controller.
/// Files that do not exist are simply not read.
pub fn cgroup_limit_files(proc_self_cgroup: &str, root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (base, file) = if id == "0" && controllers.is_empty() {
            (root.to_path_buf(), "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            (root.join("memory"), "memory.limit_in_bytes")
        } else {
            continue;
        };
        // The path and each ancestor, down to the mount's root.
        let mut dir = Path::new(path.trim());
        loop {
            let relative = dir.strip_prefix("/").unwrap_or(dir);
            files.push(base.join(relative).join(file));
            match dir.parent() {
                Some(parent) => dir = parent,
                None => break,
            }
        }
    }
    files
}

/// A cgroup limit file's value in bytes; `None` for no limit (`max` in v2, a value
/// near `i64::MAX` in v1) or text that is not a number.
pub fn parse_cgroup_limit(text: &str) -> Option<u64> {
    let value: u64 = text.trim().parse().ok()?;
    // cgroup v1 writes "unlimited" as i64::MAX rounded down to the page size.
    (value < 1 << 62).then_some(value)
}
