//! CPU affinity for the one-core measurements (`sloop-bench --pin`).
//!
//! On a two-core machine the collector under test gets one core and the load
//! side — the harness (its sinks) and `sloop loadgen` — the other. The harness
//! pins all its own threads to the load core when it starts; the processes it
//! starts inherit the affinity of the thread that forks them, so the load
//! generator lands on the load core without more ado, and a collector is started
//! from a thread whose affinity is, for the length of the fork, the collector's
//! (see [`Pinning::spawn_with`]). A collector thus starts with its affinity already
//! set: what it sizes from `available_parallelism` (Tokio's default worker count,
//! sloop's batch flushers) sees the cores it will run on.
//!
//! Affinity is set with util-linux's `taskset` (this crate has no `unsafe`, so no
//! `sched_setaffinity` call of its own), and read back from `/proc`.

use std::process::{Command, Stdio};

/// Which CPUs the collector and the load side run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinning {
    /// The collector's core.
    pub collector: usize,
    /// The load side's core (the harness and `sloop loadgen`).
    pub load: usize,
}

/// Where a collector may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Its own core only.
    OwnCore,
    /// Its own core and the load side's: it shares one with the load side.
    BothCores,
}

impl Pinning {
    /// The first two CPUs this process may run on; an error with fewer than two.
    pub fn first_two() -> Result<Self, String> {
        let allowed = allowed_cpus("self")?;
        match allowed.as_slice() {
            [collector, load, ..] => Ok(Self {
                collector: *collector,
                load: *load,
            }),
            _ => Err(format!("--pin needs two CPUs; this process may use only {allowed:?}")),
        }
    }

    /// The CPU list (`taskset -c` syntax) for `placement`.
    pub fn cpus(&self, placement: Placement) -> String {
        match placement {
            Placement::OwnCore => self.collector.to_string(),
            Placement::BothCores => format!("{},{}", self.collector, self.load),
        }
    }

    /// Pins every thread of the harness to the load core.
    pub fn pin_harness(&self) -> Result<(), String> {
        taskset(&[
            "-a",
            "-p",
            "-c",
            &self.load.to_string(),
            &std::process::id().to_string(),
        ])?;
        let threads = allowed_cpus_of_threads(std::process::id())?;
        if threads.iter().any(|cpus| cpus != &vec![self.load]) {
            return Err(format!(
                "the harness's threads are not all on CPU {}: {threads:?}",
                self.load
            ));
        }
        Ok(())
    }

    /// Runs `spawn` (which must fork synchronously, and not yield) with this
    /// thread's affinity set to the collector's `placement`, then puts the thread
    /// back on the load core.
    pub fn spawn_with<T>(&self, placement: Placement, spawn: impl FnOnce() -> T) -> Result<T, String> {
        let tid = current_tid()?;
        taskset(&["-p", "-c", &self.cpus(placement), &tid])?;
        let spawned = spawn();
        taskset(&["-p", "-c", &self.load.to_string(), &tid])?;
        Ok(spawned)
    }
}

/// This thread's id, from `/proc/thread-self` (a link to `<pid>/task/<tid>`).
fn current_tid() -> Result<String, String> {
    let link = std::fs::read_link("/proc/thread-self").map_err(|e| format!("/proc/thread-self: {e}"))?;
    link.file_name()
        .and_then(|name| name.to_str())
        .map(str::to_string)
        .ok_or_else(|| format!("/proc/thread-self points at {}", link.display()))
}

fn taskset(args: &[&str]) -> Result<(), String> {
    let status = Command::new("taskset")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("running taskset (util-linux): {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset {args:?} exited with {status}"))
    }
}

/// The CPUs `/proc/<pid>/status` allows (`pid` may be `self`).
pub fn allowed_cpus(pid: &str) -> Result<Vec<usize>, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .and_then(|list| parse_cpu_list(list.trim()))
        .ok_or_else(|| format!("{path}: no Cpus_allowed_list"))
}

/// The allowed CPUs of each thread of `pid`.
pub fn allowed_cpus_of_threads(pid: u32) -> Result<Vec<Vec<usize>>, String> {
    let dir = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let tid = entry.file_name().to_string_lossy().into_owned();
        // A thread may end while we look.
        if let Ok(cpus) = allowed_cpus(&format!("{pid}/task/{tid}")) {
            out.push(cpus);
        }
    }
    Ok(out)
}

/// The union of the CPUs the threads of `pid` may use, as a `taskset -c` list.
pub fn describe(pid: u32) -> String {
    match allowed_cpus_of_threads(pid) {
        Ok(threads) => {
            let mut all: Vec<usize> = threads.into_iter().flatten().collect();
            all.sort_unstable();
            all.dedup();
            all.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
        }
        Err(error) => error,
    }
}

/// Parses a kernel CPU list such as `0-3,8,10-11`.
fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<usize>().ok()?..=b.parse::<usize>().ok()?),
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_lists() {
        assert_eq!(parse_cpu_list("0-1"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0-2,5,7-8"), Some(vec![0, 1, 2, 5, 7, 8]));
        assert_eq!(parse_cpu_list("3"), Some(vec![3]));
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn reads_this_process_and_its_threads() {
        assert!(!allowed_cpus("self").unwrap().is_empty());
        assert!(!allowed_cpus_of_threads(std::process::id()).unwrap().is_empty());
    }
}
