//! Durable queues on disk: what the `file_storage` extension gives a persistent
//! exporter queue (`sending_queue.storage`).
//!
//! A queue is a directory of append-only *segment* files (`seg-<first sequence>.log`)
//! of checksummed records (laid out in `src/storage/record.rs`), each with an acknowledgement file
//! (`seg-….ack`) that lists the records delivered. A segment is deleted once every
//! record in it is acknowledged and writing has moved on to the next one, so the
//! files never hold more than one segment of delivered data: nothing to compact.
//!
//! **Why a segment log and not redb** (which sloop uses for SLO state): a queue is
//! written once, read once and deleted in order, so appends with one write and at most
//! one `fdatasync` per group of records are all it needs, where a B-tree store writes
//! each record into pages and commits twice. And it fails better: a checksum per
//! record means a torn write after `kill -9` costs that record only, and damage in the
//! middle of a file costs only the damaged records — the scan finds the next intact
//! one by its magic — while a B-tree file damaged in a page can fail to open at all.
//! This is the design of Vector's disk buffer.
//!
//! **Group commit.** Every queue has one writer thread. Producers hand it records and
//! wait; it takes everything waiting, writes it with one vectored write, syncs once
//! when `fsync` is on, and answers them all. So a burst of small requests costs one
//! sync, and the answer a receiver gives its client means the record is in the file
//! (and on the device, with `fsync`).
//!
//! **Delivery.** Consumers [`DiskQueue::pop`] records oldest first and either
//! [`DiskQueue::ack`] them (delivered, or given up on) or [`DiskQueue::release`] them
//! (put back to be taken again). A record taken but neither acknowledged nor released
//! when the process dies is delivered again after the restart: at-least-once.

pub(crate) mod record;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, Notify, Semaphore};

use record::{Meta, HEADER};

/// A new segment is started once the current one is this large.
const SEGMENT_BYTES: u64 = 8 << 20;
/// Payloads written by this process are also kept in memory, up to this much per
/// queue, so a queue that keeps up is never read back from disk.
const CACHE_BYTES: u64 = 32 << 20;
/// At most this many records go into one group commit.
const MAX_GROUP: usize = 512;

/// How a queue's size is measured against its capacity (`sending_queue.sizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sizer {
    /// Requests (batches), the Collector's default.
    #[default]
    Requests,
    /// Spans, data points or log records.
    Items,
    /// Bytes of the records on disk.
    Bytes,
}

/// What a `file_storage` extension gives the queues that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// The directory; each queue gets a directory of its own in it.
    pub directory: PathBuf,
    /// Sync each group commit to the device.
    pub fsync: bool,
    /// How long a write may take before the producer is refused.
    pub timeout: Duration,
}

impl StorageSettings {
    /// The directory of the queue of `owner` (an exporter's id): `exporter_otlp`,
    /// `exporter_otlp_backup` for `otlp/backup`.
    pub fn queue_dir(&self, kind: &str, owner: &str) -> PathBuf {
        let name: String = owner
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.directory.join(format!("{kind}_{name}"))
    }
}

/// How a queue is opened.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// Sync each group commit to the device (`fdatasync`); without it a record
    /// survives the process dying but not the machine.
    pub fsync: bool,
    /// What `capacity` counts.
    pub sizer: Sizer,
    /// The most the queue holds, in `sizer` units.
    pub capacity: u64,
    /// How long a producer waits for its record to be written.
    pub timeout: Duration,
}

/// Why a record was not queued.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The queue holds its capacity.
    #[error("the persistent queue is full")]
    Full,
    /// Writing failed (disk full, read-only, I/O error) or did not finish in time.
    #[error("writing to the persistent queue in {dir} failed: {message}")]
    Write {
        /// The queue's directory.
        dir: PathBuf,
        /// What the system said.
        message: String,
    },
}

/// Why a queue could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct OpenError {
    /// The file or directory at fault.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

impl OpenError {
    fn io(path: &Path, error: std::io::Error) -> Self {
        Self {
            path: path.to_path_buf(),
            message: error.to_string(),
        }
    }
}

/// A record taken from the queue.
#[derive(Debug, Clone)]
pub struct Record {
    /// Its sequence number, for [`DiskQueue::ack`] / [`DiskQueue::release`].
    pub seq: u64,
    /// What the producer said it is (the signal).
    pub kind: u8,
    /// Items in it.
    pub items: u32,
    /// The bytes.
    pub payload: Bytes,
}

/// What the queue holds and what opening it found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records not yet acknowledged.
    pub requests: u64,
    /// Items in them.
    pub items: u64,
    /// Bytes of them (headers included).
    pub bytes: u64,
    /// Bytes of the segment files.
    pub disk_bytes: u64,
    /// Damaged regions skipped (a torn last write, garbage, a checksum mismatch).
    pub damaged_records: u64,
    /// Bytes in them.
    pub damaged_bytes: u64,
    /// The size in the sizer's units (one of `requests`, `items`, `bytes`).
    pub size: u64,
}

/// Where one live record is.
#[derive(Debug)]
struct Loc {
    /// Offset of its header in the segment.
    offset: u64,
    meta: Meta,
    /// The payload, while it fits the cache.
    cached: Option<Bytes>,
}

/// One segment file.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// Read handle.
    file: Arc<File>,
    /// Records not yet acknowledged.
    live: BTreeMap<u64, Loc>,
    /// The acknowledgement file, opened on the first acknowledgement.
    acks: Option<File>,
    /// Whether the last acknowledgement could not be written (logged once).
    ack_failed: bool,
    /// File length.
    len: u64,
}

impl Segment {
    fn ack_path(&self) -> PathBuf {
        self.path.with_extension("ack")
    }
}

/// The queue's state, under one lock.
#[derive(Debug)]
struct State {
    options: QueueOptions,
    /// By first sequence number.
    segments: BTreeMap<u64, Segment>,
    /// The segment being written (never deleted while it is).
    active: Option<u64>,
    /// Live records no consumer holds, oldest first.
    ready: VecDeque<u64>,
    /// Units reserved by producers whose records are being written.
    reserved: u64,
    requests: u64,
    items: u64,
    bytes: u64,
    cache_bytes: u64,
}

impl State {
    fn used(&self, sizer: Sizer) -> u64 {
        match sizer {
            Sizer::Requests => self.requests,
            Sizer::Items => self.items,
            Sizer::Bytes => self.bytes,
        }
    }

    fn segment_of(&mut self, seq: u64) -> Option<(u64, &mut Segment)> {
        self.segments
            .range_mut(..=seq)
            .next_back()
            .map(|(first, segment)| (*first, segment))
    }
}

/// A persistent FIFO queue of records in a directory.
pub struct DiskQueue {
    dir: PathBuf,
    state: Mutex<State>,
    /// One permit per record in `ready`.
    available: Semaphore,
    /// Woken whenever records are acknowledged (room for producers, and an empty
    /// queue for a shutdown waiting on it).
    acked: Notify,
    writer: Mutex<Option<mpsc::Sender<Append>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    disk_bytes: AtomicU64,
    /// Exporter queues delivering from this one (two while a reload hands over).
    consumers: AtomicU64,
    damaged_records: AtomicU64,
    damaged_bytes: AtomicU64,
    /// Holds the directory's lock file: one process per queue.
    _lock: File,
}

impl std::fmt::Debug for DiskQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskQueue")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A record on its way to the writer thread.
struct Append {
    kind: u8,
    items: u32,
    payload: Bytes,
    done: oneshot::Sender<Result<u64, String>>,
}

impl DiskQueue {
    /// Opens (creating it if needed) the queue in `dir`: reads back every intact
    /// record not yet acknowledged, cuts a torn last write off, moves a segment with
    /// damage in it to `dir/damaged/` (keeping its intact records), and starts the
    /// writer thread.
    pub fn open(dir: &Path, options: QueueOptions) -> Result<Arc<Self>, OpenError> {
        std::fs::create_dir_all(dir).map_err(|e| OpenError::io(dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| OpenError::io(&lock_path, e))?;
        lock.try_lock().map_err(|_| OpenError {
            path: dir.to_path_buf(),
            message: "another process has this queue open (its LOCK file is locked)".into(),
        })?;
        let mut state = State {
            options,
            segments: BTreeMap::new(),
            active: None,
            ready: VecDeque::new(),
            reserved: 0,
            requests: 0,
            items: 0,
            bytes: 0,
            cache_bytes: 0,
        };
        let mut damaged = (0u64, 0u64);
        let mut disk_bytes = 0;
        for path in segment_files(dir)? {
            let (segment, found) = recover(dir, &path)?;
            damaged.0 += found.0;
            damaged.1 += found.1;
            let Some(segment) = segment else { continue };
            disk_bytes += segment.len;
            for (seq, loc) in &segment.live {
                state.ready.push_back(*seq);
                state.requests += 1;
                state.items += u64::from(loc.meta.items);
                state.bytes += HEADER as u64 + u64::from(loc.meta.len);
            }
            let first = segment_first(&path).unwrap_or_default();
            state.segments.insert(first, segment);
        }
        let next_seq = state
            .segments
            .values()
            .filter_map(|s| s.live.keys().next_back())
            .max()
            .map_or(0, |last| last + 1)
            .max(state.segments.keys().next_back().map_or(0, |first| first + 1));
        let (sender, receiver) = mpsc::channel();
        let permits = state.ready.len();
        let queue = Arc::new(Self {
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
            available: Semaphore::new(permits),
            acked: Notify::new(),
            writer: Mutex::new(Some(sender)),
            thread: Mutex::new(None),
            disk_bytes: AtomicU64::new(disk_bytes),
            consumers: AtomicU64::new(0),
            damaged_records: AtomicU64::new(damaged.0),
            damaged_bytes: AtomicU64::new(damaged.1),
            _lock: lock,
        });
        let weak = Arc::downgrade(&queue);
        let thread = std::thread::Builder::new()
            .name("sloop-queue-writer".into())
            .spawn(move || write_loop(weak, receiver, next_seq))
            .map_err(|e| OpenError::io(dir, e))?;
        *queue.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
        Ok(queue)
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The most the queue holds, in its sizer's units.
    pub fn capacity(&self) -> u64 {
        self.lock().options.capacity
    }

    /// Opens the queue in `dir`, or returns the one this process has open there
    /// already with `options` applied to it. A reload that changes an exporter builds
    /// a new exporter queue while the old one still delivers; both work from the same
    /// files, which only one [`DiskQueue`] may have open.
    pub fn open_shared(dir: &Path, options: QueueOptions) -> Result<Arc<Self>, OpenError> {
        static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<DiskQueue>>>> = OnceLock::new();
        let mut open = OPEN
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        open.retain(|_, queue| queue.strong_count() > 0);
        if let Some(queue) = open.get(dir).and_then(Weak::upgrade) {
            queue.lock().options = options;
            return Ok(queue);
        }
        let queue = Self::open(dir, options)?;
        open.insert(dir.to_path_buf(), Arc::downgrade(&queue));
        Ok(queue)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cost(sizer: Sizer, items: u32, payload: &[u8]) -> u64 {
        match sizer {
            Sizer::Requests => 1,
            Sizer::Items => u64::from(items),
            Sizer::Bytes => (HEADER + payload.len()) as u64,
        }
    }

    /// Writes a record and resolves once it is in the file (and synced, with
    /// `fsync`). Refuses at once when the queue is full.
    pub async fn push(&self, kind: u8, items: u32, payload: Bytes) -> Result<(), PushError> {
        let (cost, timeout) = {
            let mut state = self.lock();
            let cost = Self::cost(state.options.sizer, items, &payload);
            let used = state.used(state.options.sizer) + state.reserved;
            // One record always fits an empty queue, however large.
            if used > 0 && used + cost > state.options.capacity {
                return Err(PushError::Full);
            }
            state.reserved += cost;
            (cost, state.options.timeout)
        };
        let result = self.write(kind, items, payload, timeout).await;
        self.lock().reserved -= cost;
        result
    }

    /// Waits until records are acknowledged (room may have been made).
    pub async fn room(&self) {
        self.acked.notified().await;
    }

    async fn write(&self, kind: u8, items: u32, payload: Bytes, timeout: Duration) -> Result<(), PushError> {
        let (done, answer) = oneshot::channel();
        let sent = match &*self.writer.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(writer) => writer
                .send(Append {
                    kind,
                    items,
                    payload,
                    done,
                })
                .is_ok(),
            None => false,
        };
        let failed = |message: String| PushError::Write {
            dir: self.dir.clone(),
            message,
        };
        if !sent {
            return Err(failed("the queue is closed".into()));
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(Ok(_seq))) => Ok(()),
            Ok(Ok(Err(message))) => Err(failed(message)),
            Ok(Err(_)) => Err(failed("the writer stopped".into())),
            Err(_) => Err(failed(format!(
                "the write took longer than the storage timeout ({timeout:?})"
            ))),
        }
    }

    /// Takes the oldest record no consumer holds, waiting for one.
    pub async fn pop(&self) -> Record {
        loop {
            // The semaphore is never closed, so acquire cannot fail.
            if let Ok(permit) = self.available.acquire().await {
                permit.forget();
            }
            if let Some(record) = self.take() {
                return record;
            }
        }
    }

    /// Takes the oldest record no consumer holds, if one is ready now.
    pub fn try_pop(&self) -> Option<Record> {
        loop {
            self.available.try_acquire().ok()?.forget();
            if let Some(record) = self.take() {
                return Some(record);
            }
        }
    }

    /// Takes the oldest ready record, reading it from disk if it is not cached.
    /// `None` when the record could not be read back intact (counted as damaged and
    /// acknowledged, so it is not tried again).
    fn take(&self) -> Option<Record> {
        let (seq, meta, offset, file, cached) = {
            let mut state = self.lock();
            let seq = state.ready.pop_front()?;
            let (_, segment) = state.segment_of(seq)?;
            let file = segment.file.clone();
            let loc = segment.live.get(&seq)?;
            (seq, loc.meta, loc.offset, file, loc.cached.clone())
        };
        if let Some(payload) = cached {
            return Some(Record {
                seq,
                kind: meta.kind,
                items: meta.items,
                payload,
            });
        }
        let mut buf = vec![0u8; HEADER + meta.len as usize];
        let intact = file.read_exact_at(&mut buf, offset).is_ok() && record::parse_at(&buf, 0) == Some(meta);
        if !intact {
            tracing::error!(
                message = "A record of the persistent queue was damaged on disk since it was written; skipping it.",
                directory = %self.dir.display(),
                sequence = seq,
            );
            self.damaged_records.fetch_add(1, Ordering::Relaxed);
            self.damaged_bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
            self.ack(seq);
            return None;
        }
        let payload = Bytes::from(buf).slice(HEADER..);
        Some(Record {
            seq,
            kind: meta.kind,
            items: meta.items,
            payload,
        })
    }

    /// Marks a record done (delivered, or given up on): it will not be delivered
    /// again, and its segment is deleted once all its records are done.
    pub fn ack(&self, seq: u64) {
        let mut state = self.lock();
        let active = state.active;
        let Some((first, segment)) = state.segment_of(seq) else {
            return;
        };
        let Some(loc) = segment.live.remove(&seq) else {
            return;
        };
        let now_empty = segment.live.is_empty() && active != Some(first);
        if !now_empty {
            // A lost acknowledgement means a duplicate after a restart, not a loss:
            // written without sync, and a failure is only logged.
            match append_ack(segment, seq) {
                Ok(()) => segment.ack_failed = false,
                // Once per run of failures (a full disk fails every one).
                Err(error) if !std::mem::replace(&mut segment.ack_failed, true) => {
                    tracing::warn!(message = "Could not record a delivery in the persistent queue; records delivered meanwhile may be delivered again after a restart.", path = %segment.ack_path().display(), %error);
                }
                Err(_) => {}
            }
        }
        let size = HEADER as u64 + u64::from(loc.meta.len);
        state.requests -= 1;
        state.items -= u64::from(loc.meta.items);
        state.bytes -= size;
        if loc.cached.is_some() {
            state.cache_bytes -= u64::from(loc.meta.len);
        }
        if now_empty {
            self.delete_segment(&mut state, first);
        }
        drop(state);
        self.acked.notify_waiters();
    }

    /// Puts a taken record back, to be taken again before newer ones.
    pub fn release(&self, seq: u64) {
        self.lock().ready.push_front(seq);
        self.available.add_permits(1);
    }

    fn delete_segment(&self, state: &mut State, first: u64) {
        if let Some(segment) = state.segments.remove(&first) {
            self.disk_bytes.fetch_sub(segment.len, Ordering::Relaxed);
            for path in [segment.path.clone(), segment.ack_path()] {
                if let Err(error) = std::fs::remove_file(&path) {
                    if error.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(message = "Could not delete a delivered segment of the persistent queue.", path = %path.display(), %error);
                    }
                }
            }
        }
    }

    /// What the queue holds.
    pub fn stats(&self) -> Stats {
        let state = self.lock();
        Stats {
            requests: state.requests,
            items: state.items,
            bytes: state.bytes,
            disk_bytes: self.disk_bytes.load(Ordering::Relaxed),
            damaged_records: self.damaged_records.load(Ordering::Relaxed),
            damaged_bytes: self.damaged_bytes.load(Ordering::Relaxed),
            size: state.used(state.options.sizer),
        }
    }

    /// The queue's size in its sizer's units.
    pub fn size(&self) -> u64 {
        self.stats().size
    }

    /// Registers a consumer (an exporter queue delivering from this queue).
    pub fn attach(&self) {
        self.consumers.fetch_add(1, Ordering::SeqCst);
    }

    /// Unregisters a consumer; how many remain. A queue being shut down with
    /// others still attached (a reload replaced its exporter) leaves delivery to
    /// them instead of draining.
    pub fn detach(&self) -> u64 {
        let before = self
            .consumers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_sub(1)))
            .unwrap_or_default();
        before.saturating_sub(1)
    }

    /// Waits until every record is acknowledged.
    pub async fn wait_empty(&self) {
        loop {
            let acked = self.acked.notified();
            if self.lock().requests == 0 {
                return;
            }
            acked.await;
        }
    }

    /// Stops the writer thread after the records handed to it are written. Records
    /// stay on disk for the next process; producers are refused from now on.
    pub fn close(&self) {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for DiskQueue {
    fn drop(&mut self) {
        self.writer.get_mut().unwrap_or_else(|p| p.into_inner()).take();
    }
}

fn append_ack(segment: &mut Segment, seq: u64) -> std::io::Result<()> {
    if segment.acks.is_none() {
        segment.acks = Some(OpenOptions::new().create(true).append(true).open(segment.ack_path())?);
    }
    match &mut segment.acks {
        Some(file) => file.write_all(&record::ack_entry(seq)),
        None => Ok(()),
    }
}

/// The segment files in `dir`, oldest first.
fn segment_files(dir: &Path) -> Result<Vec<PathBuf>, OpenError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| OpenError::io(dir, e))? {
        let path = entry.map_err(|e| OpenError::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "log") && segment_first(&path).is_some() {
            files.push(path);
        }
    }
    files.sort_by_key(|p| segment_first(p));
    Ok(files)
}

/// The first sequence number a segment file is named for.
fn segment_first(path: &Path) -> Option<u64> {
    path.file_stem()?.to_str()?.strip_prefix("seg-")?.parse().ok()
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("seg-{first:020}.log"))
}

/// Reads one segment back. Returns it (or `None` when nothing in it is live) and the
/// damaged regions and bytes found.
fn recover(dir: &Path, path: &Path) -> Result<(Option<Segment>, (u64, u64)), OpenError> {
    let buf = std::fs::read(path).map_err(|e| OpenError::io(path, e))?;
    let scan = record::scan(&buf);
    let ack_path = path.with_extension("ack");
    let acked: std::collections::HashSet<u64> = match std::fs::read(&ack_path) {
        Ok(acks) => record::acks(&acks).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(OpenError::io(&ack_path, e)),
    };
    let mut damaged = (
        scan.damaged.len() as u64,
        scan.damaged.iter().map(|(a, b)| (b - a) as u64).sum::<u64>(),
    );
    if let Some(tail) = scan.tail {
        damaged.0 += 1;
        damaged.1 += (buf.len() - tail) as u64;
    }
    let live: Vec<(u64, Meta)> = scan
        .records
        .iter()
        .copied()
        .filter(|(_, m)| !acked.contains(&m.seq))
        .collect();
    if live.is_empty() {
        // Everything in it was delivered (or nothing intact is left): done with it.
        if !scan.is_clean() {
            set_aside(dir, path, &scan)?;
        }
        for p in [path.to_path_buf(), ack_path] {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(OpenError::io(&p, e)),
                _ => {}
            }
        }
        return Ok((None, damaged));
    }
    let records: Vec<(u64, Meta)> = if scan.damaged.is_empty() {
        if let Some(tail) = scan.tail {
            // A torn last write (the process died in it) or a file cut short: cut it
            // off; every record before it is intact.
            tracing::warn!(
                message = "The persistent queue ends in an incomplete record (the process died while writing it, or the file was cut short); dropping those bytes.",
                path = %path.display(),
                offset = tail,
                bytes = buf.len() - tail,
            );
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| OpenError::io(path, e))?;
            file.set_len(tail as u64).map_err(|e| OpenError::io(path, e))?;
        }
        live
    } else {
        // Damage in the middle: keep the original aside for a human, and rewrite
        // the intact records into a clean file of the same name.
        set_aside(dir, path, &scan)?;
        rewrite(path, &buf, &scan.records)?
    };
    let file = File::open(path).map_err(|e| OpenError::io(path, e))?;
    let len = file.metadata().map_err(|e| OpenError::io(path, e))?.len();
    let live = records
        .into_iter()
        .filter(|(_, m)| !acked.contains(&m.seq))
        .map(|(offset, meta)| {
            (
                meta.seq,
                Loc {
                    offset,
                    meta,
                    cached: None,
                },
            )
        })
        .collect();
    Ok((
        Some(Segment {
            path: path.to_path_buf(),
            file: Arc::new(file),
            live,
            acks: None,
            ack_failed: false,
            len,
        }),
        damaged,
    ))
}

/// Moves a damaged segment file into `dir/damaged/`, logging where.
fn set_aside(dir: &Path, path: &Path, scan: &record::Scan) -> Result<(), OpenError> {
    let aside_dir = dir.join("damaged");
    std::fs::create_dir_all(&aside_dir).map_err(|e| OpenError::io(&aside_dir, e))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = aside_dir.join(format!("{name}.{stamp}"));
    std::fs::copy(path, &aside).map_err(|e| OpenError::io(&aside, e))?;
    let regions: Vec<String> = scan
        .damaged
        .iter()
        .map(|(a, b)| format!("{a}..{b}"))
        .chain(scan.tail.map(|t| format!("{t}..end")))
        .collect();
    tracing::error!(
        message = "The persistent queue has damaged records; intact records are kept and delivered, the damaged file is set aside.",
        path = %path.display(),
        set_aside = %aside.display(),
        damaged_byte_ranges = %regions.join(", "),
        intact_records = scan.records.len(),
    );
    Ok(())
}

/// Writes `records` of `buf` into `path` anew (through a temporary file and a rename,
/// so a crash leaves either file whole). Returns their offsets in the new file.
fn rewrite(path: &Path, buf: &[u8], records: &[(u64, Meta)]) -> Result<Vec<(u64, Meta)>, OpenError> {
    let tmp = path.with_extension("rewrite");
    let mut out = Vec::with_capacity(buf.len());
    let mut moved = Vec::with_capacity(records.len());
    for (offset, meta) in records {
        let start = *offset as usize;
        moved.push((out.len() as u64, *meta));
        out.extend_from_slice(&buf[start..start + HEADER + meta.len as usize]);
    }
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(&out)?;
        file.sync_data()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| OpenError::io(path, e))?;
    Ok(moved)
}

/// The writer thread: group commits until the queue is closed or dropped.
fn write_loop(queue: std::sync::Weak<DiskQueue>, appends: mpsc::Receiver<Append>, mut next_seq: u64) {
    let mut active: Option<(u64, File, u64)> = None;
    while let Ok(first) = appends.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match appends.try_recv() {
                Ok(append) => group.push(append),
                Err(_) => break,
            }
        }
        let Some(queue) = queue.upgrade() else { return };
        let result = queue.commit(&mut active, &group, next_seq);
        match result {
            Ok(()) => {
                let first = next_seq;
                next_seq += group.len() as u64;
                for (i, append) in group.into_iter().enumerate() {
                    let _ = append.done.send(Ok(first + i as u64));
                }
            }
            Err(error) => {
                let message = error.to_string();
                for append in group {
                    let _ = append.done.send(Err(message.clone()));
                }
            }
        }
    }
}

impl DiskQueue {
    /// Writes one group to the active segment (starting a new one when it is full),
    /// syncs if asked, and makes the records available to consumers.
    fn commit(&self, active: &mut Option<(u64, File, u64)>, group: &[Append], first_seq: u64) -> std::io::Result<()> {
        let fsync = self.lock().options.fsync;
        let roll = match active {
            Some((_, _, len)) => *len >= SEGMENT_BYTES,
            None => true,
        };
        if roll {
            let path = segment_path(&self.dir, first_seq);
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            if fsync {
                File::open(&self.dir)?.sync_all()?;
            }
            let read = File::open(&path)?;
            let previous = {
                let mut state = self.lock();
                state.segments.insert(
                    first_seq,
                    Segment {
                        path,
                        file: Arc::new(read),
                        live: BTreeMap::new(),
                        acks: None,
                        ack_failed: false,
                        len: 0,
                    },
                );
                state.active.replace(first_seq)
            };
            // The segment written before may be fully delivered already.
            if let Some(previous) = previous {
                let mut state = self.lock();
                if state.segments.get(&previous).is_some_and(|s| s.live.is_empty()) {
                    self.delete_segment(&mut state, previous);
                }
            }
            *active = Some((first_seq, file, 0));
        }
        let Some((segment_first, file, len)) = active else {
            return Ok(());
        };
        if *len > 0 {
            self.reuse_if_delivered(*segment_first, file, len)?;
        }
        let metas: Vec<Meta> = group
            .iter()
            .enumerate()
            .map(|(i, a)| Meta {
                seq: first_seq + i as u64,
                kind: a.kind,
                items: a.items,
                len: a.payload.len() as u32,
            })
            .collect();
        let headers: Vec<[u8; HEADER]> = metas
            .iter()
            .zip(group)
            .map(|(meta, a)| record::header(*meta, &a.payload))
            .collect();
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(group.len() * 2);
        for (h, a) in headers.iter().zip(group) {
            slices.push(IoSlice::new(h));
            slices.push(IoSlice::new(&a.payload));
        }
        let total: u64 = slices.iter().map(|s| s.len() as u64).sum();
        let written =
            write_all_vectored(file, &mut slices).and_then(|()| if fsync { file.sync_data() } else { Ok(()) });
        if let Err(error) = written {
            // Cut what part of the group made it, so the next group starts clean.
            if file.set_len(*len).is_err() {
                // Cannot even truncate: start a new segment next time; the scan
                // after a restart passes over the partial record.
                *active = None;
            }
            return Err(error);
        }
        let mut offset = *len;
        *len += total;
        self.disk_bytes.fetch_add(total, Ordering::Relaxed);
        let mut state = self.lock();
        let mut cache_bytes = state.cache_bytes;
        let mut added = (0u64, 0u64, 0u64);
        let segment_first = *segment_first;
        if let Some(segment) = state.segments.get_mut(&segment_first) {
            segment.len = *len;
            for (meta, a) in metas.iter().zip(group) {
                let cached = (cache_bytes + u64::from(meta.len) <= CACHE_BYTES).then(|| {
                    cache_bytes += u64::from(meta.len);
                    a.payload.clone()
                });
                segment.live.insert(
                    meta.seq,
                    Loc {
                        offset,
                        meta: *meta,
                        cached,
                    },
                );
                offset += (HEADER + meta.len as usize) as u64;
                added.0 += 1;
                added.1 += u64::from(meta.items);
                added.2 += (HEADER + meta.len as usize) as u64;
            }
        }
        state.cache_bytes = cache_bytes;
        state.requests += added.0;
        state.items += added.1;
        state.bytes += added.2;
        state.ready.extend(metas.iter().map(|m| m.seq));
        drop(state);
        self.available.add_permits(metas.len());
        Ok(())
    }
}

impl DiskQueue {
    /// Empties the segment being written when everything in it was delivered, so
    /// its space is given back at once: on a disk smaller than a segment, a queue
    /// that filled it would otherwise never get room again.
    fn reuse_if_delivered(&self, first: u64, file: &mut File, len: &mut u64) -> std::io::Result<()> {
        let mut state = self.lock();
        let Some(segment) = state.segments.get_mut(&first) else {
            return Ok(());
        };
        if !segment.live.is_empty() {
            return Ok(());
        }
        // Nothing live in it means no consumer reads it either.
        file.set_len(0)?;
        segment.acks = None;
        segment.ack_failed = false;
        match std::fs::remove_file(segment.ack_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        segment.len = 0;
        self.disk_bytes.fetch_sub(*len, Ordering::Relaxed);
        *len = 0;
        Ok(())
    }
}

/// `Write::write_all_vectored` is not stable yet: the same loop over
/// `write_vectored` and `IoSlice::advance_slices`.
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "wrote nothing")),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
