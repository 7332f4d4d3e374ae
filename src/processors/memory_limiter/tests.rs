use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::memory::{cgroup_limit_files, parse_cgroup_limit, parse_kib_field};
use super::*;
use crate::component::{Consumer, Lifecycle, Retry, Signal};
use crate::config::Config;
use crate::testing::{traces, Recorder};

fn config(limit_mib: u64, spike_limit_mib: u64) -> MemoryLimiterConfig {
    MemoryLimiterConfig {
        check_interval: Duration::from_secs(1),
        limit_mib,
        spike_limit_mib,
        ..MemoryLimiterConfig::default()
    }
}

/// Memory figures a test sets by hand: RSS, and live heap bytes when counted.
struct Scripted {
    rss: Arc<AtomicU64>,
    heap: Arc<AtomicU64>,
}

impl Scripted {
    /// RSS alone, as without a counting allocator.
    fn new(rss_mib: u64) -> (Self, MemorySources) {
        let (scripted, mut sources) = Self::with_heap(rss_mib, 0);
        sources.heap = None;
        (scripted, sources)
    }

    /// RSS and a counted heap.
    fn with_heap(rss_mib: u64, heap_mib: u64) -> (Self, MemorySources) {
        let rss = Arc::new(AtomicU64::new(rss_mib * MIB));
        let heap = Arc::new(AtomicU64::new(heap_mib * MIB));
        let (read_rss, read_heap) = (rss.clone(), heap.clone());
        let sources = MemorySources {
            rss: Arc::new(move || Ok(read_rss.load(Ordering::Relaxed))),
            heap: Some(Arc::new(move || read_heap.load(Ordering::Relaxed))),
            total: Arc::new(|| Ok(1000 * MIB)),
        };
        (Self { rss, heap }, sources)
    }

    fn set_mib(&self, mib: u64) {
        self.rss.store(mib * MIB, Ordering::Relaxed);
    }

    fn set_heap_mib(&self, mib: u64) {
        self.heap.store(mib * MIB, Ordering::Relaxed);
    }
}

fn limiter(config: MemoryLimiterConfig, sources: MemorySources, next: Arc<Recorder>) -> MemoryLimiter {
    limiter_reporting_to(config, sources, next, Arc::default())
}

fn limiter_reporting_to(
    config: MemoryLimiterConfig,
    sources: MemorySources,
    next: Arc<Recorder>,
    pressure: Arc<Pressure>,
) -> MemoryLimiter {
    let check = MemoryCheck::new(config, "memory_limiter".into(), sources, pressure);
    MemoryLimiter::new(Arc::new(check), Signal::Traces, next)
}

fn errors_of(yaml: &str) -> Vec<(String, String)> {
    let text = format!(
        "receivers: {{otlp: {{protocols: {{grpc: }}}}}}\n\
         processors:\n  memory_limiter:\n{yaml}\
         exporters: {{debug: }}\n\
         service: {{pipelines: {{traces: {{receivers: [otlp], processors: [memory_limiter], exporters: [debug]}}}}}}\n"
    );
    match Config::from_yaml(&text) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.into_iter().map(|e| (e.path, e.message)).collect(),
    }
}

#[test]
fn a_valid_config_parses() {
    assert_eq!(
        errors_of("    check_interval: 1s\n    limit_mib: 512\n    spike_limit_mib: 128\n"),
        vec![]
    );
    assert_eq!(
        errors_of("    check_interval: 500ms\n    limit_percentage: 80\n    spike_limit_percentage: 25\n"),
        vec![]
    );
}

#[test]
fn validation_errors_name_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "    limit_mib: 512\n",
            "processors.memory_limiter.check_interval",
            "required",
        ),
        (
            "    check_interval: 0s\n    limit_mib: 512\n",
            "processors.memory_limiter.check_interval",
            "greater than 0",
        ),
        (
            "    check_interval: 1s\n",
            "processors.memory_limiter.limit_mib",
            "set limit_mib or limit_percentage",
        ),
        (
            "    check_interval: 1s\n    limit_mib: 512\n    limit_percentage: 50\n",
            "processors.memory_limiter.limit_percentage",
            "not both",
        ),
        (
            "    check_interval: 1s\n    limit_mib: 512\n    spike_limit_mib: 512\n",
            "processors.memory_limiter.spike_limit_mib",
            "less than limit_mib (512)",
        ),
        (
            "    check_interval: 1s\n    limit_percentage: 101\n",
            "processors.memory_limiter.limit_percentage",
            "between 1 and 100",
        ),
        (
            "    check_interval: 1s\n    limit_percentage: 50\n    spike_limit_percentage: 150\n",
            "processors.memory_limiter.spike_limit_percentage",
            "between 1 and 100",
        ),
        (
            "    check_interval: 1s\n    limit_percentage: 50\n    spike_limit_percentage: 50\n",
            "processors.memory_limiter.spike_limit_percentage",
            "less than limit_percentage (50)",
        ),
        (
            "    check_interval: 1s\n    limit_percentage: 50\n    spike_limit_mib: 10\n",
            "processors.memory_limiter.spike_limit_mib",
            "use spike_limit_percentage",
        ),
        (
            "    check_interval: 1s\n    limit_mib: 50\n    spike_limit_percentage: 10\n",
            "processors.memory_limiter.spike_limit_percentage",
            "use spike_limit_mib",
        ),
        (
            "    check_interval: 1s\n    limit_mib: 50\n    ballast_size_mib: 10\n",
            "processors.memory_limiter.ballast_size_mib",
            "",
        ),
    ];
    for (yaml, path, message) in cases {
        let errors = errors_of(yaml);
        assert!(
            errors.iter().any(|(p, m)| p == path && m.contains(message)),
            "for\n{yaml}expected an error at {path} containing {message:?}, got {errors:?}"
        );
    }
}

#[test]
fn limits_in_mib_default_the_spike_to_a_fifth() {
    let never = || -> std::io::Result<u64> { panic!("total memory read for a MiB limit") };
    assert_eq!(
        config(500, 100).limits(never).unwrap(),
        Limits {
            hard: 500 * MIB,
            soft: 400 * MIB
        }
    );
    assert_eq!(
        config(500, 0).limits(never).unwrap(),
        Limits {
            hard: 500 * MIB,
            soft: 400 * MIB
        }
    );
}

#[test]
fn percentages_are_of_the_total() {
    let percent = |limit, spike| MemoryLimiterConfig {
        check_interval: Duration::from_secs(1),
        limit_percentage: limit,
        spike_limit_percentage: spike,
        ..MemoryLimiterConfig::default()
    };
    let total = || Ok(2000 * MIB);
    assert_eq!(
        percent(80, 25).limits(total).unwrap(),
        Limits {
            hard: 1600 * MIB,
            soft: 1100 * MIB
        }
    );
    assert_eq!(
        percent(50, 0).limits(total).unwrap(),
        Limits {
            hard: 1000 * MIB,
            soft: 800 * MIB
        }
    );
    let unreadable = percent(50, 0).limits(|| Err(std::io::Error::other("no procfs")));
    assert!(unreadable.unwrap_err().contains("no procfs"));
}

#[tokio::test(start_paused = true)]
async fn refuses_above_the_soft_limit_and_accepts_again_below() {
    let (memory, sources) = Scripted::new(100);
    let next = Recorder::new();
    // Hard 500 MiB, soft 400 MiB.
    let limiter = limiter(config(500, 100), sources, next.clone());
    limiter.start().await.unwrap();
    limiter.consume(traces(&[&["a"]])).await.unwrap();

    memory.set_mib(450);
    // A request measures again only once the last measurement is 10 ms old; until
    // then it reads the flag.
    limiter.consume(traces(&[&["b"]])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(9)).await;
    limiter.consume(traces(&[&["b2"]])).await.unwrap();
    assert!(!limiter.is_refusing());
    // 11 ms after the last measurement, long before the next 1 s tick: the request
    // itself measures, and is refused.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let error = limiter.consume(traces(&[&["c", "d"]])).await.unwrap_err();
    assert!(limiter.is_refusing());
    assert_eq!(error.retry, Retry::After(Some(Duration::from_secs(1))));
    assert!(error.message.contains("high memory usage"), "{}", error.message);
    assert!(error.message.contains("450 MiB"), "{}", error.message);

    // Above the hard limit: still refused.
    memory.set_mib(600);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(limiter.consume(traces(&[&["e"]])).await.is_err());

    // Exactly at the soft limit counts as above, as in the Collector.
    memory.set_mib(400);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(limiter.consume(traces(&[&["f"]])).await.is_err());

    memory.set_mib(399);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!limiter.is_refusing());
    limiter.consume(traces(&[&["g"]])).await.unwrap();
    assert_eq!(next.batch_sizes(), vec![1, 1, 1, 1]);
    limiter.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_first_sample_is_taken_at_start() {
    let (_memory, sources) = Scripted::new(450);
    let next = Recorder::new();
    let limiter = limiter(config(500, 100), sources, next.clone());
    assert!(!limiter.is_refusing(), "nothing measured before start");
    limiter.start().await.unwrap();
    assert!(limiter.is_refusing());
    assert!(limiter.consume(traces(&[&["a"]])).await.is_err());
    assert!(next.batch_sizes().is_empty());
    limiter.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_read_keeps_the_last_state() {
    let failing = Arc::new(AtomicU64::new(0));
    let read = failing.clone();
    let sources = MemorySources {
        rss: Arc::new(move || match read.load(Ordering::Relaxed) {
            0 => Ok(450 * MIB),
            _ => Err(std::io::Error::other("gone")),
        }),
        heap: None,
        total: Arc::new(|| Ok(1000 * MIB)),
    };
    let limiter = limiter(config(500, 100), sources, Recorder::new());
    limiter.start().await.unwrap();
    assert!(limiter.is_refusing());
    failing.store(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(limiter.is_refusing());
    limiter.shutdown().await;
}

#[tokio::test]
async fn start_fails_when_memory_cannot_be_read() {
    let sources = MemorySources {
        rss: Arc::new(|| Err(std::io::Error::other("no procfs"))),
        heap: Some(Arc::new(|| 0)),
        total: Arc::new(|| Ok(1000 * MIB)),
    };
    let limiter = limiter(config(500, 100), sources, Recorder::new());
    let error = limiter.start().await.unwrap_err();
    assert!(error.to_string().contains("no procfs"), "{error}");
    limiter.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_retry_hint_is_the_check_interval_but_at_least_a_second() {
    let (_memory, sources) = Scripted::new(450);
    let mut slow = config(500, 100);
    slow.check_interval = Duration::from_secs(5);
    let limiter = limiter(slow, sources, Recorder::new());
    limiter.start().await.unwrap();
    let error = limiter.consume(traces(&[&["a"]])).await.unwrap_err();
    assert_eq!(error.retry, Retry::After(Some(Duration::from_secs(5))));
    limiter.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_safe_twice_and_without_start() {
    let (_memory, sources) = Scripted::new(100);
    let limiter = limiter(config(500, 100), sources, Recorder::new());
    limiter.shutdown().await;
    limiter.shutdown().await;
    limiter.start().await.unwrap();
    limiter.shutdown().await;
}

#[test]
fn vm_rss_is_parsed_from_a_status_sample() {
    let status = "Name:\tsloop\nVmPeak:\t  912344 kB\nVmRSS:\t   48212 kB\nRssAnon:\t   30000 kB\n";
    assert_eq!(parse_kib_field(status, "VmRSS:"), Some(48212 * 1024));
    assert_eq!(parse_kib_field(status, "VmSwap:"), None);
    assert_eq!(parse_kib_field("VmRSS:\t12 MB\n", "VmRSS:"), None);
    let meminfo = "MemTotal:       16314444 kB\nMemFree:         1234 kB\n";
    assert_eq!(parse_kib_field(meminfo, "MemTotal:"), Some(16314444 * 1024));
}

#[cfg(target_os = "linux")]
#[test]
fn this_process_rss_and_total_are_plausible() {
    let rss = memory::resident_set_size().unwrap();
    let total = memory::total_memory().unwrap();
    assert!(rss > MIB, "rss {rss}");
    assert!(total > rss, "total {total} rss {rss}");
}

#[test]
fn cgroup_limit_files_cover_the_cgroup_and_its_ancestors() {
    let root = Path::new("/sys/fs/cgroup");
    let v2 = cgroup_limit_files("0::/system.slice/sloop.service\n", root);
    let expected: Vec<PathBuf> = [
        "/sys/fs/cgroup/system.slice/sloop.service/memory.max",
        "/sys/fs/cgroup/system.slice/memory.max",
        "/sys/fs/cgroup/memory.max",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(v2, expected);
    assert_eq!(
        cgroup_limit_files("0::/\n", root),
        vec![PathBuf::from("/sys/fs/cgroup/memory.max")]
    );
    let v1 = cgroup_limit_files("12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n", root);
    assert_eq!(
        v1,
        [
            "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/docker/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ]
        .iter()
        .map(PathBuf::from)
        .collect::<Vec<_>>()
    );
}

#[test]
fn cgroup_limits_without_a_limit_are_none() {
    assert_eq!(parse_cgroup_limit("536870912\n"), Some(512 * MIB));
    assert_eq!(parse_cgroup_limit("max\n"), None);
    assert_eq!(parse_cgroup_limit("9223372036854771712\n"), None);
}

#[tokio::test(start_paused = true)]
async fn built_from_config_the_processor_reads_the_real_process() {
    // The production sources: a huge limit accepts.
    let limiter = limiter(config(1 << 20, 0), MemorySources::system(), Recorder::new());
    limiter.start().await.unwrap();
    assert!(!limiter.is_refusing());
    limiter.shutdown().await;
}

/// Builds the component's processor for a pipeline of `signal`, as the graph does,
/// on `service` (whose state store holds the shared check).
fn build_on(
    component: &MemoryLimiterComponent,
    service: &crate::component::ServiceHandles,
    signal: Signal,
    next: Arc<Recorder>,
) -> Arc<dyn Processor> {
    let id = crate::component::ComponentId::parse("memory_limiter").unwrap();
    let ctx = ProcessorContext {
        id: &id,
        pipeline: signal.as_str(),
        signal,
        exporters: Recorder::new(),
        pipelines: &Default::default(),
        service,
    };
    component.build(&ctx, next).unwrap()
}

#[tokio::test(start_paused = true)]
async fn pipelines_share_one_check_that_runs_until_the_last_one_stops() {
    let (memory, sources) = Scripted::new(100);
    let component = MemoryLimiterComponent::new(config(500, 100), sources);
    let service = crate::component::ServiceHandles::default();
    let traces_next = Recorder::new();
    let traces_limiter = build_on(&component, &service, Signal::Traces, traces_next.clone());
    let logs_limiter = build_on(&component, &service, Signal::Logs, Recorder::new());
    traces_limiter.start().await.unwrap();
    logs_limiter.start().await.unwrap();
    logs_limiter.shutdown().await;

    // The traces pipeline still runs: its checks go on after the logs one stopped.
    memory.set_mib(450);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(traces_limiter.consume(traces(&[&["a"]])).await.is_err());
    memory.set_mib(100);
    tokio::time::sleep(Duration::from_secs(1)).await;
    traces_limiter.consume(traces(&[&["b"]])).await.unwrap();
    traces_limiter.shutdown().await;

    // Stopped: nothing measures any more, so the last state stays.
    memory.set_mib(450);
    tokio::time::sleep(Duration::from_secs(3)).await;
    traces_limiter.consume(traces(&[&["c"]])).await.unwrap();
    // And it can start again.
    traces_limiter.start().await.unwrap();
    assert!(traces_limiter.consume(traces(&[&["d"]])).await.is_err());
    traces_limiter.shutdown().await;
    assert_eq!(traces_next.batch_sizes(), vec![1, 1]);
}

fn sample(rss_mib: u64, heap_mib: Option<u64>) -> Sample {
    Sample {
        rss: rss_mib * MIB,
        heap: heap_mib.map(|mib| mib * MIB),
    }
}

#[test]
fn usage_is_the_heap_plus_what_was_not_heap_at_start() {
    // Hard 100 MiB, soft 80 MiB; 20 MiB of RSS was not heap at start.
    let limits = Limits {
        hard: 100 * MIB,
        soft: 80 * MIB,
    };
    let non_heap = sample(28, Some(8)).non_heap();
    assert_eq!(non_heap, 20 * MIB);
    let verdict = |rss, heap| judge(sample(rss, heap), non_heap, limits);

    // A burst holds memory: refused, and at 80 MiB held above the hard limit.
    assert_eq!(
        verdict(90, Some(60)),
        Verdict {
            usage: 80 * MIB,
            refuse: true,
            above_hard: false
        }
    );
    assert!(verdict(130, Some(85)).above_hard);
    // After it, glibc keeps the pages: RSS stays at 250 MiB but sloop holds 30 MiB.
    // The RSS limiter refused here for minutes; this one accepts.
    assert_eq!(
        verdict(250, Some(10)),
        Verdict {
            usage: 30 * MIB,
            refuse: false,
            above_hard: false
        }
    );
    // The RSS backstop: RSS at the soft limit refuses once usage is within two
    // spikes of it (40 MiB), not below.
    assert!(!verdict(250, Some(19)).refuse);
    assert!(verdict(250, Some(20)).refuse);
    assert!(verdict(250, Some(20)).above_hard, "logged as the hard limit");
    assert!(verdict(80, Some(20)).refuse);
    assert!(!verdict(80, Some(20)).above_hard);
    assert!(!verdict(79, Some(59)).refuse, "below the soft limit RSS does not count");
    // Without a heap counter, RSS is the usage.
    assert_eq!(
        judge(sample(80, None), 0, limits),
        Verdict {
            usage: 80 * MIB,
            refuse: true,
            above_hard: false
        }
    );
    assert!(!judge(sample(79, None), 0, limits).refuse);
    assert_eq!(sample(28, None).non_heap(), 0);
    // A spike of half the limit: the backstop starts at 0 and saturates.
    let tight = Limits {
        hard: 2 * MIB,
        soft: MIB,
    };
    assert!(judge(sample(2, Some(0)), 0, tight).refuse);
}

#[tokio::test(start_paused = true)]
async fn refusals_stop_at_the_next_check_after_a_burst_although_rss_stays_high() {
    // At start: RSS 30 MiB of which 10 MiB heap, so 20 MiB are not heap.
    let (memory, sources) = Scripted::with_heap(30, 10);
    let next = Recorder::new();
    let pressure = Arc::new(Pressure::default());
    // Hard 100 MiB, soft 80 MiB.
    let limiter = limiter_reporting_to(config(100, 20), sources, next.clone(), pressure.clone());
    limiter.start().await.unwrap();
    limiter.consume(traces(&[&["a"]])).await.unwrap();
    assert!(!pressure.is_refusing());

    // A burst: the heap holds 70 MiB (usage 90), RSS follows.
    memory.set_heap_mib(70);
    memory.set_mib(110);
    tokio::time::sleep(Duration::from_millis(11)).await;
    let error = limiter.consume(traces(&[&["b"]])).await.unwrap_err();
    assert!(error.message.contains("90 MiB in use"), "{}", error.message);
    assert!(pressure.is_refusing(), "readiness is off while refusing");

    // The data is delivered and dropped: the heap is back at 10 MiB, RSS stays at
    // 110 MiB (glibc keeps the pages). The next check accepts again.
    memory.set_heap_mib(10);
    tokio::time::sleep(Duration::from_millis(980)).await;
    assert!(limiter.is_refusing(), "no check yet: the first tick is 1 s after start");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!limiter.is_refusing(), "the check after the burst accepts");
    assert!(!pressure.is_refusing(), "and readiness is back");
    limiter.consume(traces(&[&["c"]])).await.unwrap();
    assert_eq!(next.batch_sizes(), vec![1, 1]);

    // Refusing again, then shut down: a stopped limiter does not hold readiness off.
    memory.set_heap_mib(70);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(pressure.is_refusing());
    limiter.shutdown().await;
    assert!(!pressure.is_refusing());
}

#[tokio::test(start_paused = true)]
async fn pipelines_sharing_a_limiter_report_pressure_once() {
    let (memory, sources) = Scripted::with_heap(30, 10);
    let component = MemoryLimiterComponent::new(config(100, 20), sources);
    let service = crate::component::ServiceHandles::default();
    let pressure = service.memory_pressure.clone();
    let traces_limiter = build_on(&component, &service, Signal::Traces, Recorder::new());
    let logs_limiter = build_on(&component, &service, Signal::Logs, Recorder::new());
    traces_limiter.start().await.unwrap();
    logs_limiter.start().await.unwrap();
    memory.set_heap_mib(70);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(pressure.is_refusing());
    memory.set_heap_mib(10);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!pressure.is_refusing(), "one begin, one end");
    traces_limiter.shutdown().await;
    logs_limiter.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_with_the_same_config_keeps_the_running_check() {
    let (memory, sources) = Scripted::with_heap(30, 10);
    let service = crate::component::ServiceHandles::default();
    let pressure = service.memory_pressure.clone();
    // Hard 100 MiB, soft 80 MiB; one limiter in two pipelines.
    service.state.begin();
    let old_component = MemoryLimiterComponent::new(config(100, 20), sources.clone());
    let old_traces = build_on(&old_component, &service, Signal::Traces, Recorder::new());
    let old_logs = build_on(&old_component, &service, Signal::Logs, Recorder::new());
    old_traces.start().await.unwrap();
    old_logs.start().await.unwrap();
    memory.set_heap_mib(70);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(pressure.is_refusing());

    // The reload parses the same block again and builds the new graph before the old
    // one is shut down: the new processors carry on with the running check.
    service.state.begin();
    let new_component = MemoryLimiterComponent::new(config(100, 20), sources.clone());
    let new_next = Recorder::new();
    let new_traces = build_on(&new_component, &service, Signal::Traces, new_next.clone());
    assert!(
        new_traces.consume(traces(&[&["a"]])).await.is_err(),
        "built and not started yet, it refuses as the running check says"
    );
    new_traces.start().await.unwrap();
    old_traces.shutdown().await;
    old_logs.shutdown().await;
    assert!(
        pressure.is_refusing(),
        "the old processors' shutdown does not stop the kept check"
    );

    // The check still measures: the pressure ends at its next tick.
    memory.set_heap_mib(10);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!pressure.is_refusing(), "one begin, one end");
    new_traces.consume(traces(&[&["b"]])).await.unwrap();
    memory.set_heap_mib(70);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(new_traces.consume(traces(&[&["c"]])).await.is_err());

    // The last user stops it: a stopped limiter neither refuses nor holds readiness
    // off, and measures nothing any more.
    new_traces.shutdown().await;
    assert!(!pressure.is_refusing());
    tokio::time::sleep(Duration::from_secs(3)).await;
    new_traces.consume(traces(&[&["d"]])).await.unwrap();
    assert!(!pressure.is_refusing(), "no check ran after the last shutdown");
    assert_eq!(new_next.batch_sizes(), vec![1, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_reload_with_a_changed_config_gets_a_fresh_check_and_the_old_one_stops() {
    let (memory, sources) = Scripted::with_heap(30, 10);
    let service = crate::component::ServiceHandles::default();
    let pressure = service.memory_pressure.clone();
    let build = |config: MemoryLimiterConfig| {
        // Each build parses the block again, as a reload does.
        service.state.begin();
        let component = MemoryLimiterComponent::new(config, sources.clone());
        build_on(&component, &service, Signal::Traces, Recorder::new())
    };
    let old = build(config(100, 20));
    old.start().await.unwrap();
    memory.set_heap_mib(70);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(pressure.is_refusing());

    // A higher limit: usage 90 MiB is under the new soft limit of 160 MiB.
    let new = build(config(200, 40));
    new.start().await.unwrap();
    new.consume(traces(&[&["a"]])).await.unwrap();
    old.shutdown().await;
    assert!(!pressure.is_refusing(), "the old check stopped and released readiness");
    new.shutdown().await;
}
