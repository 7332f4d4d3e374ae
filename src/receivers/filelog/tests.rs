//! The filelog receiver against real files in temporary directories: rotation,
//! truncation, deletion, symlinks, growing fingerprints, partial lines, encodings
//! and attributes through the tailer; batching, checkpoints, replay positions and
//! retries through the running receiver.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};

use super::config::{parse_byte_size, FileLogReceiverConfig};
use super::entry::Entry;
use super::tail::{TailSettings, Tailer};
use super::LineStages;
use crate::component::replay::Position;
use crate::component::{
    Authenticators, ComponentId, ConsumeError, Receiver, ReceiverConfig, ReceiverContext, ReceiverOutputs,
    ServiceHandles,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::Telemetry;
use crate::storage::StorageSettings;
use crate::testing::Recorder;

/// How long a condition may take to become true before a test fails.
const BOUND: Duration = Duration::from_secs(10);

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("sloop-filelog-{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A glob for `pattern` inside the directory.
    fn glob(&self, pattern: &str) -> String {
        self.0.join(pattern).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn parse(yaml: &str) -> Result<FileLogReceiverConfig, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(
        <serde_saphyr::figment::Yaml as figment::providers::Format>::string(yaml),
    )
    .extract()
    .expect("test YAML is a mapping");
    parse_block::<FileLogReceiverConfig>(&RawValue::from(dict))
}

fn append(path: &Path, text: &[u8]) {
    let mut file = OpenOptions::new().create(true).append(true).open(path).unwrap();
    file.write_all(text).unwrap();
}

/// The tailer of a config, with pass-through stages, polled by hand.
struct Harness {
    tailer: Tailer,
    stages: LineStages,
}

impl Harness {
    fn new(yaml: &str) -> Self {
        let config = parse(yaml).unwrap();
        Self {
            tailer: Tailer::new(TailSettings::from_config(&config).unwrap()),
            stages: LineStages::new(&crate::component::ComponentId::parse("filelog").unwrap(), &config).unwrap(),
        }
    }

    fn restore(yaml: &str, state: &[u8]) -> Self {
        let config = parse(yaml).unwrap();
        Self {
            tailer: Tailer::restore(TailSettings::from_config(&config).unwrap(), state).unwrap(),
            stages: LineStages::new(&crate::component::ComponentId::parse("filelog").unwrap(), &config).unwrap(),
        }
    }

    /// One whole poll's entries.
    fn poll_entries(&mut self) -> Vec<Entry> {
        self.tailer.begin_poll();
        let mut out = Vec::new();
        while !self.tailer.fill(&mut self.stages, &mut out, super::BATCH_SIZE) {}
        out
    }

    /// One whole poll's bodies.
    fn poll(&mut self) -> Vec<String> {
        self.poll_entries().iter().map(body).collect()
    }
}

fn body(entry: &Entry) -> String {
    match entry.record.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        other => panic!("body is not text: {other:?}"),
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

fn lines(range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("line {i}\n")).collect()
}

// ─── Config ──────────────────────────────────────────────────────────────────────

#[test]
fn config_has_the_collectors_defaults() {
    let config = parse("include: [/tmp/x.log]").unwrap();
    assert_eq!(config.start_at, super::config::StartAt::End);
    assert_eq!(config.poll_interval, Duration::from_millis(200));
    assert_eq!(config.max_log_size, 1024 * 1024);
    assert_eq!(config.max_concurrent_files, 1024);
    assert_eq!(config.fingerprint_size, 1000);
    assert_eq!(config.force_flush_period, Duration::from_millis(500));
    assert_eq!(config.encoding, super::config::Encoding::Utf8);
    assert!(config.include_file_name && !config.include_file_path);
    assert!(!config.retry_on_failure.enabled);
    assert_eq!(config.retry_on_failure.max_elapsed_time, Duration::from_secs(300));
}

#[test]
fn byte_sizes_take_the_collectors_units() {
    assert_eq!(parse_byte_size("1kb"), Ok(1000));
    assert_eq!(parse_byte_size("16KiB"), Ok(16 * 1024));
    assert_eq!(parse_byte_size("1MiB"), Ok(1024 * 1024));
    assert_eq!(parse_byte_size("512"), Ok(512));
    assert!(parse_byte_size("1 parsec").is_err());
    let config = parse("{include: [/x], fingerprint_size: 16KiB, max_log_size: 2048}").unwrap();
    assert_eq!((config.fingerprint_size, config.max_log_size), (16 * 1024, 2048));
}

#[test]
fn config_errors_name_the_key() {
    let paths = |yaml: &str| -> Vec<String> { parse(yaml).unwrap_err().into_iter().map(|e| e.path).collect() };
    assert_eq!(paths("{}"), ["include"]);
    assert_eq!(paths("{include: [/x], delete_after_read: true}"), ["delete_after_read"]);
    assert_eq!(paths("{include: ['/x/[']}"), ["include[0]"]);
    assert_eq!(
        paths("{include: [/x], multiline: {line_start_pattern: a, line_end_pattern: b}}"),
        ["multiline"]
    );
    assert_eq!(
        paths("{include: [/x], multiline: {line_start_pattern: '('}}"),
        ["multiline.line_start_pattern"]
    );
    assert_eq!(paths("{include: [/x], fingerprint_size: 4}"), ["fingerprint_size"]);
    assert_eq!(paths("{include: [/x], encoding: latin-9}"), ["encoding"]);
    assert_eq!(
        paths("{include: [/x], attributes: {a: 'EXPR(body)'}}"),
        ["attributes.a"]
    );
    let unknown = parse("{include: [/x], operatorz: []}").unwrap_err();
    assert_eq!(unknown[0].path, "operatorz");
}

#[test]
fn the_example_parses() {
    let yaml = include_str!("example.yaml");
    let dict: figment::value::Dict = figment::Figment::from(
        <serde_saphyr::figment::Yaml as figment::providers::Format>::string(yaml),
    )
    .extract()
    .unwrap();
    let block = dict.get("filelog").unwrap().clone();
    let config = parse_block::<FileLogReceiverConfig>(&block).unwrap();
    assert_eq!(
        config.resource.get("service.name").map(String::as_str),
        Some("frontend-lb")
    );
}

// ─── Where reading starts ────────────────────────────────────────────────────────

#[test]
fn start_at_end_skips_what_is_there_at_the_first_poll_only() {
    let dir = TempDir::new("start-end");
    fs::write(dir.path("a.log"), "old\n").unwrap();
    let mut harness = Harness::new(&format!("include: ['{}']", dir.glob("*.log")));
    assert!(harness.poll().is_empty());
    append(&dir.path("a.log"), b"new\n");
    fs::write(dir.path("b.log"), "b1\nb2\n").unwrap();
    let mut got = harness.poll();
    got.sort();
    assert_eq!(got, ["b1", "b2", "new"], "a later file is read from its start");
}

#[test]
fn start_at_beginning_reads_what_is_there() {
    let dir = TempDir::new("start-beginning");
    fs::write(dir.path("a.log"), "one\ntwo\n").unwrap();
    let mut harness = Harness::new(&format!("{{include: ['{}'], start_at: beginning}}", dir.glob("*.log")));
    assert_eq!(harness.poll(), ["one", "two"]);
    assert!(harness.poll().is_empty(), "nothing is read twice");
}

// ─── Rotation, truncation, deletion ──────────────────────────────────────────────

#[test]
fn rename_rotation_out_of_include_reads_the_rest_then_the_new_file() {
    let dir = TempDir::new("rename-out");
    let log = dir.path("access.log");
    fs::write(&log, lines(0..3)).unwrap();
    let mut harness = Harness::new(&format!("{{include: ['{}'], start_at: beginning}}", log.display()));
    assert_eq!(harness.poll().len(), 3);
    append(&log, b"last of the old file\n");
    fs::rename(&log, dir.path("access.log.1")).unwrap();
    fs::write(&log, "first of the new file\n").unwrap();
    assert_eq!(harness.poll(), ["last of the old file", "first of the new file"]);
    append(&log, b"second\n");
    assert_eq!(harness.poll(), ["second"]);
}

#[test]
fn rename_rotation_within_include_is_recognised_by_fingerprint() {
    let dir = TempDir::new("rename-in");
    let log = dir.path("access.log");
    fs::write(&log, lines(0..3)).unwrap();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning}}",
        dir.glob("access.log*")
    ));
    assert_eq!(harness.poll().len(), 3);
    append(&log, b"last of the old file\n");
    fs::rename(&log, dir.path("access.log.1")).unwrap();
    fs::write(&log, "first of the new file\n").unwrap();
    let mut got = harness.poll();
    got.sort();
    assert_eq!(got, ["first of the new file", "last of the old file"]);
    append(&dir.path("access.log.1"), b"late write to the old file\n");
    assert_eq!(harness.poll(), ["late write to the old file"]);
    assert!(harness.poll().is_empty());
}

#[test]
fn copy_truncate_reads_the_truncated_file_from_its_start() {
    let dir = TempDir::new("copytruncate");
    let log = dir.path("access.log");
    fs::write(&log, lines(0..5)).unwrap();
    let mut harness = Harness::new(&format!("{{include: ['{}'], start_at: beginning}}", log.display()));
    assert_eq!(harness.poll().len(), 5);
    fs::copy(&log, dir.path("access.log.1")).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    assert!(harness.poll().is_empty());
    append(&log, b"after truncation\n");
    assert_eq!(harness.poll(), ["after truncation"]);
}

#[test]
fn a_file_shorter_than_its_offset_is_read_from_the_beginning() {
    let dir = TempDir::new("shorter");
    let log = dir.path("app.log");
    // Same first 16 bytes (the fingerprint) before and after.
    fs::write(&log, "header-16-bytes\nline a\nline b\nline c\n").unwrap();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning, fingerprint_size: 16}}",
        log.display()
    ));
    assert_eq!(harness.poll().len(), 4);
    fs::write(&log, "header-16-bytes\nz\n").unwrap();
    assert_eq!(harness.poll(), ["header-16-bytes", "z"]);
}

#[test]
fn what_a_deleted_file_held_is_read() {
    let dir = TempDir::new("deleted");
    let log = dir.path("gone.log");
    fs::write(&log, "first\n").unwrap();
    let mut harness = Harness::new(&format!("{{include: ['{}'], start_at: beginning}}", dir.glob("*.log")));
    assert_eq!(harness.poll(), ["first"]);
    append(&log, b"written before deletion\n");
    fs::remove_file(&log).unwrap();
    assert_eq!(harness.poll(), ["written before deletion"]);
    assert!(harness.poll().is_empty());
}

#[test]
fn a_short_fingerprint_that_grows_is_the_same_file() {
    let dir = TempDir::new("grows");
    let log = dir.path("app.log");
    fs::write(&log, "a\n").unwrap();
    let mut harness = Harness::new(&format!("{{include: ['{}'], start_at: beginning}}", log.display()));
    assert_eq!(harness.poll(), ["a"]);
    append(&log, b"b\n");
    assert_eq!(harness.poll(), ["b"]);
    append(&log, lines(0..200).as_bytes());
    assert_eq!(harness.poll().len(), 200);
    append(&log, b"c\n");
    assert_eq!(harness.poll(), ["c"]);
}

#[test]
fn symlinks_are_followed_and_a_file_under_two_paths_is_read_once() {
    let dir = TempDir::new("symlink");
    fs::create_dir_all(dir.path("real")).unwrap();
    fs::create_dir_all(dir.path("links")).unwrap();
    fs::write(dir.path("real/app.log"), "through the link\n").unwrap();
    std::os::unix::fs::symlink(dir.path("real/app.log"), dir.path("links/app.log")).unwrap();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning, include_file_path: true, include_file_path_resolved: true, include_file_name_resolved: true}}",
        dir.glob("links/*.log")
    ));
    let entries = harness.poll_entries();
    assert_eq!(entries.iter().map(body).collect::<Vec<_>>(), ["through the link"]);
    let attributes = &entries[0].record.attributes;
    let link = dir.path("links/app.log");
    assert_eq!(attribute(attributes, "log.file.path"), link.to_str());
    let resolved = fs::canonicalize(dir.path("real/app.log")).unwrap();
    assert_eq!(attribute(attributes, "log.file.path_resolved"), resolved.to_str());
    assert_eq!(attribute(attributes, "log.file.name_resolved"), Some("app.log"));

    let mut both = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning}}",
        dir.glob("**/*.log")
    ));
    assert_eq!(both.poll(), ["through the link"]);
}

// ─── Lines ───────────────────────────────────────────────────────────────────────

#[test]
fn a_last_line_without_newline_is_sent_after_force_flush_period() {
    let dir = TempDir::new("flush");
    let log = dir.path("app.log");
    fs::write(&log, "complete\npartial").unwrap();
    let written = Instant::now();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning, force_flush_period: 50ms}}",
        log.display()
    ));
    assert_eq!(harness.poll(), ["complete"]);
    let started = Instant::now();
    let mut got = Vec::new();
    while got.is_empty() {
        assert!(started.elapsed() < BOUND, "the partial line was never flushed");
        got = harness.poll();
    }
    assert!(
        written.elapsed() >= Duration::from_millis(50),
        "flushed before force_flush_period"
    );
    assert_eq!(got, ["partial"]);
    append(&log, b" more\nnext\n");
    assert_eq!(harness.poll(), ["more", "next"]);
}

#[test]
fn a_partial_line_is_completed_when_its_newline_arrives() {
    let dir = TempDir::new("partial");
    let log = dir.path("app.log");
    fs::write(&log, "hel").unwrap();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning, force_flush_period: 1h}}",
        log.display()
    ));
    assert!(harness.poll().is_empty());
    append(&log, b"lo\n");
    assert_eq!(harness.poll(), ["hello"]);
}

#[test]
fn lines_longer_than_max_log_size_are_split() {
    let dir = TempDir::new("long");
    let log = dir.path("app.log");
    fs::write(&log, format!("{}\nshort\n", "x".repeat(40))).unwrap();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning, max_log_size: 16}}",
        log.display()
    ));
    assert_eq!(
        harness.poll(),
        ["x".repeat(16), "x".repeat(16), "x".repeat(8), "short".into()]
    );
}

#[test]
fn many_lines_across_chunks_are_read_whole_and_in_order() {
    let dir = TempDir::new("chunks");
    let log = dir.path("app.log");
    fs::write(&log, lines(0..20_000)).unwrap();
    let mut harness = Harness::new(&format!("{{include: ['{}'], start_at: beginning}}", log.display()));
    harness.tailer.begin_poll();
    let mut batches = Vec::new();
    loop {
        let mut out = Vec::new();
        let done = harness.tailer.fill(&mut harness.stages, &mut out, 1000);
        assert!(out.len() <= 1000);
        batches.push(out);
        if done {
            break;
        }
    }
    let got: Vec<String> = batches.iter().flatten().map(body).collect();
    let want: Vec<String> = (0..20_000).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
    assert!(batches.len() >= 20);
}

#[test]
fn multiline_entries_start_at_the_pattern() {
    let dir = TempDir::new("multiline");
    let log = dir.path("app.log");
    fs::write(&log, "2024-01-01 boom\n  at a\n  at b\n2024-01-02 ok\n").unwrap();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning, force_flush_period: 50ms, multiline: {{line_start_pattern: '^\\d{{4}}-'}}}}",
        log.display()
    ));
    assert_eq!(harness.poll(), ["2024-01-01 boom\n  at a\n  at b"]);
    let started = Instant::now();
    let mut got = Vec::new();
    while got.is_empty() && started.elapsed() < BOUND {
        got = harness.poll();
    }
    assert_eq!(got, ["2024-01-02 ok"]);
}

#[test]
fn utf16_files_and_invalid_utf8_decode_without_panics() {
    let dir = TempDir::new("encodings");
    let utf16: Vec<u8> = "héllo\r\nwörld\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    fs::write(dir.path("wide.log"), utf16).unwrap();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning, encoding: utf-16le}}",
        dir.glob("wide.log")
    ));
    assert_eq!(harness.poll(), ["héllo", "wörld"]);

    fs::write(dir.path("bad.log"), b"ok\n\xff\xfe broken \xc3\n").unwrap();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning}}",
        dir.glob("bad.log")
    ));
    assert_eq!(harness.poll(), ["ok", "\u{fffd}\u{fffd} broken \u{fffd}"]);
}

#[test]
fn records_carry_the_file_name_and_the_static_attributes_and_resource() {
    let dir = TempDir::new("attributes");
    fs::write(dir.path("access.log"), "GET /\n").unwrap();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning, attributes: {{source: nginx}}, resource: {{service.name: lb}}}}",
        dir.glob("*.log")
    ));
    let entries = harness.poll_entries();
    let entry = &entries[0];
    assert_eq!(attribute(&entry.record.attributes, "log.file.name"), Some("access.log"));
    assert_eq!(attribute(&entry.record.attributes, "log.file.path"), None);
    assert_eq!(attribute(&entry.record.attributes, "source"), Some("nginx"));
    assert_eq!(attribute(&entry.resource, "service.name"), Some("lb"));
    assert!(entry.record.observed_time_unix_nano > 0);
}

#[test]
fn exclude_and_exclude_older_than_leave_files_out() {
    let dir = TempDir::new("exclude");
    fs::write(dir.path("keep.log"), "kept\n").unwrap();
    fs::write(dir.path("skip.log"), "excluded\n").unwrap();
    fs::write(dir.path("old.log"), "too old\n").unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(dir.path("old.log"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], exclude: ['{}'], exclude_older_than: 1h, start_at: beginning}}",
        dir.glob("*.log"),
        dir.glob("skip*")
    ));
    assert_eq!(harness.poll(), ["kept"]);
}

#[test]
fn an_unreadable_file_does_not_stop_the_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("unreadable");
    fs::write(dir.path("a.log"), "secret\n").unwrap();
    fs::write(dir.path("b.log"), "public\n").unwrap();
    fs::set_permissions(dir.path("a.log"), fs::Permissions::from_mode(0o000)).unwrap();
    let mut harness = Harness::new(&format!("{{include: ['{}'], start_at: beginning}}", dir.glob("*.log")));
    let got = harness.poll();
    if fs::File::open(dir.path("a.log")).is_ok() {
        // Running as root: permissions do not stop reads; only check nothing broke.
        assert_eq!(got.len(), 2);
    } else {
        assert_eq!(got, ["public"]);
    }
}

#[test]
fn a_restored_state_resumes_at_its_offsets_and_other_files_are_new() {
    let dir = TempDir::new("restore");
    let yaml = format!("include: ['{}']", dir.glob("*.log"));
    fs::write(dir.path("a.log"), "a1\n").unwrap();
    let mut first = Harness::new(&format!("{{include: ['{}'], start_at: beginning}}", dir.glob("*.log")));
    assert_eq!(first.poll(), ["a1"]);
    let state = first.tailer.state();
    append(&dir.path("a.log"), b"a2\n");
    fs::write(dir.path("b.log"), "b1\n").unwrap();
    // start_at: end (the default), yet b.log is read whole: a restored state means
    // every file it does not know appeared since.
    let mut second = Harness::restore(&yaml, &state);
    let mut got = second.poll();
    got.sort();
    assert_eq!(got, ["a2", "b1"]);
}

// ─── The running receiver ────────────────────────────────────────────────────────

/// A receiver with its own service handles and a file_storage directory.
struct Running {
    receiver: Arc<dyn Receiver>,
    recorder: Arc<Recorder>,
}

fn storage_map(dir: &TempDir) -> BTreeMap<ComponentId, StorageSettings> {
    let mut storage = BTreeMap::new();
    storage.insert(
        ComponentId::parse("file_storage").unwrap(),
        StorageSettings {
            directory: dir.path("storage"),
            fsync: false,
            timeout: Duration::from_secs(1),
        },
    );
    storage
}

fn build(yaml: &str, dir: &TempDir, service: &ServiceHandles, recorder: Arc<Recorder>) -> Running {
    let config = parse(yaml).unwrap();
    let authenticators = Authenticators::default();
    let storage = storage_map(dir);
    let ctx = ReceiverContext {
        authenticators: &authenticators,
        storage: &storage,
        service,
    };
    let outputs = ReceiverOutputs {
        logs: Some(recorder.clone()),
        ..Default::default()
    };
    let receiver = config
        .build(&ComponentId::parse("filelog").unwrap(), outputs, &ctx)
        .unwrap();
    Running { receiver, recorder }
}

fn received_bodies(recorder: &Recorder) -> Vec<String> {
    let received = recorder.received.lock().unwrap();
    let mut bodies = Vec::new();
    for data in received.iter() {
        let Telemetry::Logs(request) = data else {
            panic!("not logs")
        };
        for resource in &request.resource_logs {
            for scope in &resource.scope_logs {
                for record in &scope.log_records {
                    if let Some(any_value::Value::StringValue(text)) =
                        record.body.as_ref().and_then(|b| b.value.as_ref())
                    {
                        bodies.push(text.clone());
                    }
                }
            }
        }
    }
    bodies
}

async fn wait_for_records(recorder: &Recorder, count: usize) {
    let started = Instant::now();
    while received_bodies(recorder).len() < count {
        assert!(
            started.elapsed() < BOUND,
            "{count} records expected, {} received",
            received_bodies(recorder).len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn receiver_yaml(dir: &TempDir, extra: &str) -> String {
    format!(
        "{{include: ['{}'], start_at: beginning, poll_interval: 10ms, storage: file_storage{extra}}}",
        dir.glob("*.log")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_handed_over_with_positions_and_restarts_resume_from_the_checkpoint() {
    let dir = TempDir::new("receiver");
    fs::write(dir.path("access.log"), lines(0..2500)).unwrap();
    let service = ServiceHandles::default();
    let running = build(&receiver_yaml(&dir, ""), &dir, &service, Recorder::new());
    running.receiver.start().await.unwrap();
    wait_for_records(&running.recorder, 2500).await;
    running.receiver.shutdown().await;
    running.receiver.shutdown().await;
    let sizes = running.recorder.batch_sizes();
    assert!(sizes.iter().all(|&n| n <= super::BATCH_SIZE), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 2500);
    let position = service.replay.consumed("filelog").expect("positions were handed over");
    assert_eq!(position.seq, sizes.len() as u64, "one sequence number per batch");
    assert!(dir.path("storage/receiver_filelog/checkpoint").exists());

    // A restart sees only what was written since.
    append(&dir.path("access.log"), b"after restart\n");
    let again = build(
        &receiver_yaml(&dir, ""),
        &dir,
        &ServiceHandles::default(),
        Recorder::new(),
    );
    again.receiver.start().await.unwrap();
    wait_for_records(&again.recorder, 1).await;
    // A poll reads a file in order, so lines read twice would have come first.
    again.receiver.shutdown().await;
    assert_eq!(received_bodies(&again.recorder), ["after restart"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_an_older_processor_position_and_numbers_on() {
    let dir = TempDir::new("replay");
    fs::write(dir.path("access.log"), lines(0..1500)).unwrap();
    let service = ServiceHandles::default();
    let running = build(&receiver_yaml(&dir, ""), &dir, &service, Recorder::new());
    running.receiver.start().await.unwrap();
    wait_for_records(&running.recorder, 1500).await;
    running.receiver.shutdown().await;
    assert_eq!(running.recorder.batch_sizes(), [1000, 500]);

    // A processor saved its state after the first batch only: its position is
    // where reading resumes, so the second batch is read again, once.
    let mut first_state = Harness::new(&receiver_yaml(&dir, ""));
    first_state.tailer.begin_poll();
    let mut out = Vec::new();
    first_state.tailer.fill(&mut first_state.stages, &mut out, 1000);
    let held = Position {
        seq: 1,
        state: first_state.tailer.state().into(),
    };
    let restarted = ServiceHandles::default();
    restarted
        .replay
        .restore("slo", [("filelog".to_string(), held)].into_iter().collect());
    let again = build(&receiver_yaml(&dir, ""), &dir, &restarted, Recorder::new());
    again.receiver.start().await.unwrap();
    wait_for_records(&again.recorder, 500).await;
    again.receiver.shutdown().await;
    let bodies = received_bodies(&again.recorder);
    assert_eq!(bodies.len(), 500);
    assert_eq!(bodies.first().map(String::as_str), Some("line 1000"));
    let position = restarted.replay.consumed("filelog").unwrap();
    assert_eq!(
        position.seq, 3,
        "numbering goes on from the receiver's own checkpoint (2)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_batches_are_retried_when_enabled_and_dropped_when_not() {
    let dir = TempDir::new("retry");
    fs::write(dir.path("access.log"), "one\ntwo\n").unwrap();
    let recorder = Recorder::new();
    *recorder.refuse.lock().unwrap() = Some(ConsumeError::retryable("queue full", None));
    let running = build(
        &receiver_yaml(
            &dir,
            ", retry_on_failure: {enabled: true, initial_interval: 5ms, max_interval: 10ms}",
        ),
        &dir,
        &ServiceHandles::default(),
        recorder.clone(),
    );
    running.receiver.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(received_bodies(&recorder).is_empty());
    *recorder.refuse.lock().unwrap() = None;
    wait_for_records(&recorder, 2).await;
    running.receiver.shutdown().await;
    assert_eq!(received_bodies(&recorder), ["one", "two"], "retried until taken, once");

    let dir = TempDir::new("drop");
    fs::write(dir.path("access.log"), "dropped\n").unwrap();
    let recorder = Recorder::new();
    *recorder.refuse.lock().unwrap() = Some(ConsumeError::retryable("queue full", None));
    let service = ServiceHandles::default();
    let running = build(&receiver_yaml(&dir, ""), &dir, &service, recorder.clone());
    running.receiver.start().await.unwrap();
    let started = Instant::now();
    while !dir.path("storage/receiver_filelog/checkpoint").exists() {
        assert!(started.elapsed() < BOUND, "no checkpoint after the dropped batch");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    *recorder.refuse.lock().unwrap() = None;
    append(&dir.path("access.log"), b"taken\n");
    wait_for_records(&recorder, 1).await;
    running.receiver.shutdown().await;
    assert_eq!(
        received_bodies(&recorder),
        ["taken"],
        "a refused batch is dropped, not resent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_a_retry_short_and_the_batch_is_read_again_next_time() {
    let dir = TempDir::new("shutdown-retry");
    fs::write(dir.path("access.log"), "pending\n").unwrap();
    let recorder = Recorder::new();
    *recorder.refuse.lock().unwrap() = Some(ConsumeError::retryable("queue full", None));
    let yaml = receiver_yaml(
        &dir,
        ", retry_on_failure: {enabled: true, initial_interval: 1h, max_interval: 1h, max_elapsed_time: 0s}",
    );
    let running = build(&yaml, &dir, &ServiceHandles::default(), recorder.clone());
    running.receiver.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    tokio::time::timeout(BOUND, running.receiver.shutdown())
        .await
        .expect("shutdown waits for no retry");

    let again = build(&yaml, &dir, &ServiceHandles::default(), Recorder::new());
    again.receiver.start().await.unwrap();
    wait_for_records(&again.recorder, 1).await;
    again.receiver.shutdown().await;
    assert_eq!(received_bodies(&again.recorder), ["pending"]);
}

#[test]
fn storage_must_name_a_listed_extension() {
    let config = parse("{include: [/x], storage: file_storage/missing}").unwrap();
    assert_eq!(
        config.storage(),
        Some(("storage".to_string(), "file_storage/missing".to_string()))
    );
    let dir = TempDir::new("no-storage");
    let authenticators = Authenticators::default();
    let storage = storage_map(&dir);
    let service = ServiceHandles::default();
    let ctx = ReceiverContext {
        authenticators: &authenticators,
        storage: &storage,
        service: &service,
    };
    let error = config
        .build(
            &ComponentId::parse("filelog").unwrap(),
            ReceiverOutputs::default(),
            &ctx,
        )
        .err()
        .expect("an unknown storage is refused");
    assert_eq!(error.path, "storage");
    assert!(error.message.contains("file_storage"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_counted_as_accepted_or_refused() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let dir = TempDir::new("metrics");
    fs::write(dir.path("access.log"), "a\nb\nc\n").unwrap();
    let consumer = Recorder::new();
    let running = metrics::with_local_recorder(&recorder, || {
        build(
            &receiver_yaml(&dir, ""),
            &dir,
            &ServiceHandles::default(),
            consumer.clone(),
        )
    });
    running.receiver.start().await.unwrap();
    wait_for_records(&consumer, 3).await;
    *consumer.refuse.lock().unwrap() = Some(ConsumeError::permanent("malformed"));
    append(&dir.path("access.log"), b"d\ne\n");
    let started = Instant::now();
    let refused = "otelcol_receiver_refused_log_records{receiver=\"filelog\",transport=\"file\"} 2";
    while !handle.render().contains(refused) {
        assert!(started.elapsed() < BOUND, "{}", handle.render());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.receiver.shutdown().await;
    let text = handle.render();
    assert!(
        text.contains("otelcol_receiver_accepted_log_records{receiver=\"filelog\",transport=\"file\"} 3"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_rebuilt_by_a_reload_goes_on_where_the_previous_one_stopped() {
    let dir = TempDir::new("reload");
    fs::write(dir.path("access.log"), lines(0..1500)).unwrap();
    // No storage: only the service's replay positions connect the two instances,
    // as in a reload (the processors kept their counts in memory).
    let yaml = format!(
        "{{include: ['{}'], start_at: beginning, poll_interval: 10ms}}",
        dir.glob("*.log")
    );
    let service = ServiceHandles::default();
    let first = build(&yaml, &dir, &service, Recorder::new());
    first.receiver.start().await.unwrap();
    wait_for_records(&first.recorder, 1500).await;
    first.receiver.shutdown().await;

    append(&dir.path("access.log"), b"after reload\n");
    let rebuilt = build(&yaml, &dir, &service, Recorder::new());
    rebuilt.receiver.start().await.unwrap();
    wait_for_records(&rebuilt.recorder, 1).await;
    rebuilt.receiver.shutdown().await;
    // `start_at: beginning` would have read the whole file again.
    assert_eq!(received_bodies(&rebuilt.recorder), ["after reload"]);
}

#[test]
fn the_format_parses_each_line_before_the_operators_and_malformed_lines_are_skipped() {
    let dir = TempDir::new("format");
    fs::write(
        dir.path("access.log"),
        "203.0.113.9 - - [02/Dec/2026:20:15:07 +0000] \"GET /api/cart?id=1 HTTP/1.1\" 503 12 \"-\" \"curl/8.5\" 0.412\n\
         not an access log line\n\
         203.0.113.9 - - [02/Dec/2026:20:15:08 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl/8.5\" 0.001\n",
    )
    .unwrap();
    let mut harness = Harness::new(&format!(
        "{{include: ['{}'], start_at: beginning, format: nginx_combined_request_time, \
         operators: [{{type: add, field: attributes.tier, value: edge}}, \
         {{type: severity_parser, parse_from: 'attributes[\"http.response.status_code\"]', \
         mapping: {{error: 5xx, info: 2xx}}}}]}}",
        dir.glob("*.log")
    ));
    let entries = harness.poll_entries();
    assert_eq!(entries.len(), 2, "the malformed line is skipped");
    let first = &entries[0].record;
    assert_eq!(attribute(&first.attributes, "url.path"), Some("/api/cart"));
    assert_eq!(
        attribute(&first.attributes, "tier"),
        Some("edge"),
        "the operators ran after the format"
    );
    assert_eq!(first.time_unix_nano, 1_796_242_507_000_000_000);
    let duration = first
        .attributes
        .iter()
        .find(|kv| kv.key == "http.server.request.duration")
        .and_then(|kv| kv.value.as_ref()?.value.clone());
    assert_eq!(duration, Some(any_value::Value::DoubleValue(0.412)));
    assert_eq!(attribute(&entries[1].record.attributes, "url.path"), Some("/"));
    assert_eq!(
        (first.severity_number, entries[1].record.severity_number),
        (17, 9),
        "5xx ERROR, 2xx INFO"
    );
}

#[test]
fn operator_errors_are_reported_with_their_paths() {
    // A mistake in the operators' shape (serde's path style, as every block's) ...
    let errors = parse("{include: [/tmp/x.log], operators: [{type: noop}, {type: move, from: body}]}").unwrap_err();
    assert_eq!(errors[0].path, "operators.1", "{errors:?}");
    assert!(errors[0].message.contains("`to`"), "{errors:?}");
    // ... and in what they say (the compiled chain's checks).
    let errors =
        parse("{include: [/tmp/x.log], operators: [{type: regex_parser, regex: '('}, {type: noop, output: nowhere}]}")
            .unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["operators[0].regex", "operators[1].output"], "{errors:?}");
}
