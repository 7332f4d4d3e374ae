//! The tailing core: finds the files `include` matches, tells them apart by
//! fingerprint, and reads what each has gained since the last poll, line by line,
//! into [`Entry`]s. Synchronous and single-threaded: the receiver runs it on a
//! blocking thread, one step (up to a batch of entries) at a time.
//!
//! A poll ([`Tailer::begin_poll`], then [`Tailer::fill`] until it says the poll is
//! done) goes:
//! 1. expand `include`, drop `exclude` and files older than `exclude_older_than`;
//! 2. open each file (symlinks followed) and read its first `fingerprint_size`
//!    bytes; an empty file is left for a later poll;
//! 3. match each against the known files: a known fingerprint that is a prefix of
//!    the file's first bytes is the same file (it may have grown), whatever its path
//!    now is. A match continues from its offset (from 0 if the file is now shorter
//!    than the offset: truncated); a file matching nothing is new and is read from
//!    its start, except at the very first poll with `start_at: end` and no restored
//!    state, where it is read from its end;
//! 4. read the files of the previous poll that this poll did not find (renamed out
//!    of `include`, deleted) to their end through the handle kept open, and close
//!    them; then read every file found.
//!
//! Reading goes in 64 KiB chunks with `memchr` for newlines; the bytes of a last
//! line without its newline wait in memory and are sent as they are once the file
//! has not grown for `force_flush_period` (or when a file that is going away is
//! closed). A file's offset counts the bytes of entries handed on only, so the
//! read state ([`Tailer::state`]) always matches what was sent.
//!
//! Known files are remembered for [`KEEP_POLLS`] polls after they were last found.

pub mod checkpoint;
pub mod decode;
pub mod split;

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry_proto::tonic::common::v1::KeyValue;

use self::checkpoint::FileState;
use self::split::Splitter;
use super::config::{Encoding, FileLogReceiverConfig, StartAt};
use super::entry::{string_value, Entry};
use super::LineStages;
use crate::confmap::ConfigError;

/// Bytes read from a file at a time.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// Polls a file is remembered for after it was last found.
pub const KEEP_POLLS: u64 = 3;

/// Distinct read errors remembered so that each is logged once, not every poll.
const MAX_REMEMBERED_ERRORS: usize = 1024;

/// What the tailer needs from the config, compiled.
#[derive(Debug, Clone)]
pub struct TailSettings {
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
    exclude_older_than: Option<Duration>,
    start_at: StartAt,
    max_concurrent_files: usize,
    fingerprint_size: usize,
    force_flush_period: Duration,
    encoding: Encoding,
    splitter: Splitter,
    include_file_name: bool,
    include_file_path: bool,
    include_file_name_resolved: bool,
    include_file_path_resolved: bool,
    attributes: Vec<KeyValue>,
    resource: Vec<KeyValue>,
}

impl TailSettings {
    /// Compiles the settings of `config` (already validated; errors are returned,
    /// not assumed away).
    pub fn from_config(config: &FileLogReceiverConfig) -> Result<Self, ConfigError> {
        let static_map = |map: &std::collections::BTreeMap<String, String>| {
            map.iter()
                .map(|(key, value)| KeyValue {
                    key: key.clone(),
                    value: Some(string_value(value.clone())),
                    ..Default::default()
                })
                .collect()
        };
        Ok(Self {
            include: config.include_patterns()?,
            exclude: config.exclude_patterns()?,
            exclude_older_than: config.exclude_older_than,
            start_at: config.start_at,
            max_concurrent_files: config.max_concurrent_files,
            fingerprint_size: usize::try_from(config.fingerprint_size).unwrap_or(usize::MAX),
            force_flush_period: config.force_flush_period,
            encoding: config.encoding,
            splitter: Splitter::new(config.encoding, config.multiline_rule()?, config.max_log_size),
            include_file_name: config.include_file_name,
            include_file_path: config.include_file_path,
            include_file_name_resolved: config.include_file_name_resolved,
            include_file_path_resolved: config.include_file_path_resolved,
            attributes: static_map(&config.attributes),
            resource: static_map(&config.resource),
        })
    }
}

/// One file the tailer knows.
#[derive(Debug)]
struct TrackedFile {
    fingerprint: Vec<u8>,
    /// Bytes handed on as entries; reading continues at `offset + pending.len()`.
    offset: u64,
    /// Bytes read that do not make a whole entry yet.
    pending: Vec<u8>,
    /// When `pending` last grew.
    pending_since: Option<Instant>,
    /// Open from when the file was found until the poll after it was last found.
    file: Option<File>,
    /// The path it was last found at.
    path: PathBuf,
    /// `log.file.*` attributes for that path.
    file_attributes: Vec<KeyValue>,
    /// The poll it was last found in.
    last_seen: u64,
}

/// Tails the files of one receiver.
#[derive(Debug)]
pub struct Tailer {
    settings: TailSettings,
    files: Vec<TrackedFile>,
    /// Polls begun so far.
    polls: u64,
    /// Whether a read state was restored (then no file is "already there").
    restored: bool,
    /// Indices into `files` still to read in this poll, in order, with whether the
    /// file is going away (read to its end, flushed and closed).
    work: std::collections::VecDeque<(usize, bool)>,
    errors: ErrorLog,
    buf_hint: usize,
}

impl Tailer {
    /// A tailer that knows nothing yet.
    pub fn new(settings: TailSettings) -> Self {
        Self {
            settings,
            files: Vec::new(),
            polls: 0,
            restored: false,
            work: Default::default(),
            errors: ErrorLog::default(),
            buf_hint: CHUNK_SIZE,
        }
    }

    /// A tailer that resumes from a read state ([`Tailer::state`]): its files are
    /// recognised by fingerprint, and every other file is new.
    pub fn restore(settings: TailSettings, state: &[u8]) -> Result<Self, String> {
        let mut tailer = Self::new(settings);
        tailer.restored = true;
        for known in checkpoint::decode(state)? {
            tailer.files.push(TrackedFile {
                fingerprint: known.fingerprint,
                offset: known.offset,
                pending: Vec::new(),
                pending_since: None,
                file: None,
                path: PathBuf::new(),
                file_attributes: Vec::new(),
                last_seen: 0,
            });
        }
        Ok(tailer)
    }

    /// The read state: every known file's fingerprint and offset.
    pub fn state(&self) -> Vec<u8> {
        let files: Vec<FileState> = self
            .files
            .iter()
            .map(|f| FileState {
                fingerprint: f.fingerprint.clone(),
                offset: f.offset,
            })
            .collect();
        checkpoint::encode(&files)
    }

    /// Starts a poll: finds the files and decides where to read each.
    pub fn begin_poll(&mut self) {
        self.polls += 1;
        let first_poll = self.polls == 1 && !self.restored;
        let previously_open: Vec<usize> = (0..self.files.len())
            .filter(|&i| self.files[i].file.is_some())
            .collect();
        let mut found = Vec::new();
        for path in self.matching_paths() {
            if found.len() >= self.settings.max_concurrent_files {
                self.errors.report(
                    &path,
                    format!(
                        "more than max_concurrent_files ({}) files match; the rest wait",
                        self.settings.max_concurrent_files
                    ),
                );
                break;
            }
            match self.open(&path) {
                Ok(Some(candidate)) => found.push(candidate),
                Ok(None) => {}
                Err(e) => self.errors.report(&path, e),
            }
        }
        let mut claimed = vec![false; self.files.len()];
        let mut reads = Vec::new();
        for candidate in found {
            match self.best_match(&candidate.fingerprint, &claimed) {
                Some(index) => {
                    claimed[index] = true;
                    self.continue_file(index, candidate);
                    reads.push(index);
                }
                None if reads
                    .iter()
                    .any(|&i| self.files[i].fingerprint == candidate.fingerprint) =>
                {
                    // The same file under a second path (a symlink and its target).
                }
                None => {
                    let from_end = first_poll && self.settings.start_at == StartAt::End;
                    let index = self.add_file(candidate, from_end);
                    claimed.push(true);
                    reads.push(index);
                }
            }
        }
        self.work.clear();
        // Files of the previous poll not found now: read to their end, then closed.
        for index in previously_open {
            if !claimed.get(index).copied().unwrap_or(false) {
                self.work.push_back((index, true));
            }
        }
        self.work.extend(reads.into_iter().map(|i| (i, false)));
    }

    /// Reads on in this poll until `out` holds at least `limit` entries or the poll
    /// is done; returns true when it is done (then the stages were flushed and the
    /// files no longer worth remembering forgotten).
    pub fn fill(&mut self, stages: &mut LineStages, out: &mut Vec<Entry>, limit: usize) -> bool {
        let observed = unix_nanos(SystemTime::now());
        while let Some(&(index, going)) = self.work.front() {
            if out.len() >= limit {
                return false;
            }
            match self.read_file(index, going, stages, out, limit, observed) {
                Ok(true) => {
                    self.work.pop_front();
                    if let Some(file) = self.files.get_mut(index) {
                        if going {
                            file.file = None;
                        }
                    }
                }
                Ok(false) => return false,
                Err(e) => {
                    self.work.pop_front();
                    if let Some(file) = self.files.get_mut(index) {
                        let path = file.path.clone();
                        file.file = None;
                        self.errors.report(&path, e);
                    }
                }
            }
        }
        stages.flush(out);
        self.forget_old();
        true
    }

    /// The paths `include` matches now, less `exclude` and files too old, sorted and
    /// without duplicates.
    fn matching_paths(&mut self) -> Vec<PathBuf> {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let mut paths = Vec::new();
        for pattern in &self.settings.include {
            let entries = match glob::glob_with(pattern.as_str(), options) {
                Ok(entries) => entries,
                Err(e) => {
                    self.errors.report(Path::new(pattern.as_str()), e.to_string());
                    continue;
                }
            };
            for entry in entries {
                match entry {
                    Ok(path) => paths.push(path),
                    Err(e) => self.errors.report(e.path(), e.error().to_string()),
                }
            }
        }
        paths.sort();
        paths.dedup();
        paths.retain(|path| !self.settings.exclude.iter().any(|p| p.matches_path_with(path, options)));
        if let Some(max_age) = self.settings.exclude_older_than {
            let now = SystemTime::now();
            paths.retain(|path| {
                let modified = std::fs::metadata(path).and_then(|m| m.modified());
                modified.map_or(true, |at| now.duration_since(at).map_or(true, |age| age <= max_age))
            });
        }
        paths
    }

    /// Opens `path` and reads its fingerprint; `None` for an empty file or a
    /// directory.
    fn open(&self, path: &Path) -> Result<Option<Candidate>, String> {
        let mut file = File::open(path).map_err(|e| format!("opening: {e}"))?;
        let metadata = file.metadata().map_err(|e| format!("reading metadata: {e}"))?;
        if !metadata.is_file() {
            return Ok(None);
        }
        let mut fingerprint = Vec::with_capacity(self.settings.fingerprint_size.min(CHUNK_SIZE));
        (&mut file)
            .take(self.settings.fingerprint_size as u64)
            .read_to_end(&mut fingerprint)
            .map_err(|e| format!("reading: {e}"))?;
        if fingerprint.is_empty() {
            return Ok(None);
        }
        Ok(Some(Candidate {
            path: path.to_path_buf(),
            file,
            size: metadata.len(),
            fingerprint,
        }))
    }

    /// The known file `fingerprint` continues: the longest known fingerprint that
    /// is a prefix of it, not claimed yet in this poll.
    fn best_match(&self, fingerprint: &[u8], claimed: &[bool]) -> Option<usize> {
        self.files
            .iter()
            .enumerate()
            .filter(|(i, known)| {
                !claimed.get(*i).copied().unwrap_or(false)
                    && !known.fingerprint.is_empty()
                    && fingerprint.starts_with(&known.fingerprint)
            })
            .max_by_key(|(_, known)| known.fingerprint.len())
            .map(|(i, _)| i)
    }

    /// A known file found again (maybe at another path, maybe grown).
    fn continue_file(&mut self, index: usize, candidate: Candidate) {
        let attributes = self.file_attributes(&candidate.path);
        let polls = self.polls;
        let Some(known) = self.files.get_mut(index) else { return };
        if candidate.size < known.offset + known.pending.len() as u64 {
            // Truncated (copytruncate with the same first bytes): read it again.
            known.offset = 0;
            known.pending.clear();
            known.pending_since = None;
        }
        if candidate.fingerprint.len() > known.fingerprint.len() {
            known.fingerprint = candidate.fingerprint;
        }
        let mut file = candidate.file;
        let position = known.offset + known.pending.len() as u64;
        match file.seek(SeekFrom::Start(position)) {
            Ok(_) => known.file = Some(file),
            Err(e) => {
                known.file = None;
                let path = candidate.path.clone();
                self.errors.report(&path, format!("seeking to {position}: {e}"));
                return;
            }
        }
        known.path = candidate.path;
        known.file_attributes = attributes;
        known.last_seen = polls;
    }

    /// A file seen for the first time; read from its end or its start.
    fn add_file(&mut self, candidate: Candidate, from_end: bool) -> usize {
        let offset = if from_end { candidate.size } else { 0 };
        let mut file = candidate.file;
        let open = match file.seek(SeekFrom::Start(offset)) {
            Ok(_) => Some(file),
            Err(e) => {
                self.errors.report(&candidate.path, format!("seeking to {offset}: {e}"));
                None
            }
        };
        let file_attributes = self.file_attributes(&candidate.path);
        self.files.push(TrackedFile {
            fingerprint: candidate.fingerprint,
            offset,
            pending: Vec::new(),
            pending_since: None,
            file: open,
            path: candidate.path,
            file_attributes,
            last_seen: self.polls,
        });
        self.files.len() - 1
    }

    /// Reads file `index` on; `Ok(true)` at its end, `Ok(false)` when `out` is full.
    fn read_file(
        &mut self,
        index: usize,
        going: bool,
        stages: &mut LineStages,
        out: &mut Vec<Entry>,
        limit: usize,
        observed: u64,
    ) -> Result<bool, String> {
        let settings = &self.settings;
        let Some(tracked) = self.files.get_mut(index) else {
            return Ok(true);
        };
        if going
            && tracked
                .file
                .as_ref()
                .is_some_and(|file| !starts_with(file, &tracked.fingerprint))
        {
            // Truncated and written again since it was last found: what the handle
            // would read now belongs to a new file, read from its start as such.
            tracked.file = None;
        }
        loop {
            let at_end = tracked.emit_entries(settings, stages, out, limit, observed, false);
            if !at_end {
                return Ok(false);
            }
            let Some(file) = tracked.file.as_mut() else {
                return Ok(true);
            };
            let had = tracked.pending.len();
            tracked.pending.resize(had + self.buf_hint, 0);
            let read = file.read(&mut tracked.pending[had..]);
            let n = match read {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => {
                    tracked.pending.truncate(had);
                    return Err(format!("reading: {e}"));
                }
            };
            tracked.pending.truncate(had + n);
            if n > 0 {
                tracked.pending_since = Some(Instant::now());
                continue;
            }
            // At the end of the file: a last line without its newline is sent once
            // the file has stopped growing for force_flush_period, or now if the
            // file is going away.
            let stale = tracked.pending_since.is_some_and(|since| {
                !settings.force_flush_period.is_zero() && since.elapsed() >= settings.force_flush_period
            });
            if (going || stale)
                && !tracked.pending.is_empty()
                && !tracked.emit_entries(settings, stages, out, limit, observed, true)
            {
                return Ok(false);
            }
            if tracked.pending.capacity() > 4 * CHUNK_SIZE && tracked.pending.len() < CHUNK_SIZE {
                tracked.pending.shrink_to(CHUNK_SIZE);
            }
            return Ok(true);
        }
    }

    /// The `log.file.*` attributes of a file found at `path`.
    fn file_attributes(&mut self, path: &Path) -> Vec<KeyValue> {
        let settings = &self.settings;
        let mut attributes = Vec::new();
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        if settings.include_file_name {
            attributes.push(attribute("log.file.name", name(path)));
        }
        if settings.include_file_path {
            attributes.push(attribute("log.file.path", path.to_string_lossy().into_owned()));
        }
        if settings.include_file_name_resolved || settings.include_file_path_resolved {
            match std::fs::canonicalize(path) {
                Ok(resolved) => {
                    if settings.include_file_name_resolved {
                        attributes.push(attribute("log.file.name_resolved", name(&resolved)));
                    }
                    if settings.include_file_path_resolved {
                        attributes.push(attribute(
                            "log.file.path_resolved",
                            resolved.to_string_lossy().into_owned(),
                        ));
                    }
                }
                Err(e) => self.errors.report(path, format!("resolving symlinks: {e}")),
            }
        }
        attributes
    }

    /// Forgets files not found for [`KEEP_POLLS`] polls (and not restored ones
    /// still waiting for their first poll).
    fn forget_old(&mut self) {
        let polls = self.polls;
        self.files
            .retain(|f| f.file.is_some() || polls.saturating_sub(f.last_seen.max(1)) < KEEP_POLLS);
    }
}

impl TrackedFile {
    /// Hands the whole entries in `pending` to the stages (with `flush`, the rest
    /// too) until `out` holds `limit`; returns false when it stopped for `limit`.
    fn emit_entries(
        &mut self,
        settings: &TailSettings,
        stages: &mut LineStages,
        out: &mut Vec<Entry>,
        limit: usize,
        observed: u64,
        flush: bool,
    ) -> bool {
        let mut used = 0;
        let mut complete = true;
        while let Some(token) = settings
            .splitter
            .next(self.pending.get(used..).unwrap_or_default(), flush)
        {
            if out.len() >= limit {
                complete = false;
                break;
            }
            let start = used + token.start;
            let end = used + token.end;
            let bytes = self.pending.get(start..end).unwrap_or_default();
            let bytes = if settings.splitter.is_utf16() {
                bytes
            } else {
                split::trim(bytes)
            };
            used += token.consumed;
            if let Some(body) = decode::body(settings.encoding, bytes) {
                stages.process(self.entry(settings, body, observed), out);
            }
        }
        if used > 0 {
            self.offset += used as u64;
            self.pending.drain(..used);
        }
        complete
    }

    fn entry(
        &self,
        settings: &TailSettings,
        body: opentelemetry_proto::tonic::common::v1::AnyValue,
        observed: u64,
    ) -> Entry {
        let mut entry = Entry::default();
        entry.record.observed_time_unix_nano = observed;
        entry.record.body = Some(body);
        entry.record.attributes = Vec::with_capacity(self.file_attributes.len() + settings.attributes.len());
        entry.record.attributes.extend(self.file_attributes.iter().cloned());
        entry.record.attributes.extend(settings.attributes.iter().cloned());
        entry.resource.clone_from(&settings.resource);
        entry
    }
}

/// A file found by this poll, opened, with its first bytes.
struct Candidate {
    path: PathBuf,
    file: File,
    size: u64,
    fingerprint: Vec<u8>,
}

/// Whether `file` still begins with `fingerprint`.
fn starts_with(file: &File, fingerprint: &[u8]) -> bool {
    use std::os::unix::fs::FileExt;
    let mut first = vec![0; fingerprint.len()];
    file.read_exact_at(&mut first, 0).is_ok() && first == fingerprint
}

fn attribute(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(string_value(value)),
        ..Default::default()
    }
}

fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Read errors by path, so each is logged when it first happens (or changes), not
/// at every poll.
#[derive(Debug, Default)]
struct ErrorLog {
    reported: HashMap<PathBuf, String>,
}

impl ErrorLog {
    fn report(&mut self, path: &Path, message: String) {
        if self.reported.get(path) == Some(&message) {
            return;
        }
        tracing::warn!(message = "Cannot read a file.", path = %path.display(), error = %message);
        if self.reported.len() >= MAX_REMEMBERED_ERRORS {
            self.reported.clear();
        }
        self.reported.insert(path.to_path_buf(), message);
    }
}
