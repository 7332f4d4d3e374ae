//! `filelog` receiver config: the Collector's keys for finding and tailing files
//! (`include`, `start_at`, `fingerprint_size`, …), with its defaults, checked and
//! compiled (globs, regexes, byte sizes) once, when the block is parsed.
//!
//! Keys of the Collector that sloop does not implement are refused by name with a
//! message saying so, rather than as unknown keys.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::format::Format;
use super::operators::{OperatorConfig, Operators};
use crate::confmap::{deserialize_duration, ConfigError, Validate};

/// `receivers.filelog`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLogReceiverConfig {
    /// Glob patterns of the files to read (required; `**` crosses directories).
    #[serde(default)]
    pub include: Vec<String>,
    /// Glob patterns of files not to read, even if `include` matches them.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Files not modified for this long are not read (default: no limit).
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    pub exclude_older_than: Option<Duration>,
    /// Where to start in files found at the very first poll (default `end`).
    #[serde(default)]
    pub start_at: StartAt,
    /// How often the file system is polled (default 200ms).
    #[serde(default = "default_poll_interval", deserialize_with = "deserialize_duration")]
    pub poll_interval: Duration,
    /// Longest entry in bytes; longer ones are split (default 1MiB).
    #[serde(default = "default_max_log_size", deserialize_with = "deserialize_byte_size")]
    pub max_log_size: u64,
    /// Files read at once per poll; more wait for the next poll (default 1024).
    #[serde(default = "default_max_concurrent_files")]
    pub max_concurrent_files: usize,
    /// Encoding of the files (default `utf-8`).
    #[serde(default)]
    pub encoding: Encoding,
    /// Add `log.file.name` (default true).
    #[serde(default = "default_true")]
    pub include_file_name: bool,
    /// Add `log.file.path` (default false).
    #[serde(default)]
    pub include_file_path: bool,
    /// Add `log.file.name_resolved`, symlinks resolved (default false).
    #[serde(default)]
    pub include_file_name_resolved: bool,
    /// Add `log.file.path_resolved`, symlinks resolved (default false).
    #[serde(default)]
    pub include_file_path_resolved: bool,
    /// Bytes at the start of a file that identify it (default 1kb).
    #[serde(default = "default_fingerprint_size", deserialize_with = "deserialize_byte_size")]
    pub fingerprint_size: u64,
    /// How long a last line without its newline waits at the end of a file before
    /// it is sent as it is (default 500ms; 0 never sends it).
    #[serde(default = "default_force_flush_period", deserialize_with = "deserialize_duration")]
    pub force_flush_period: Duration,
    /// Entries spanning several lines.
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// The `file_storage` extension that keeps the read offsets across restarts.
    #[serde(default)]
    pub storage: Option<String>,
    /// Resending batches the pipeline refuses.
    #[serde(default)]
    pub retry_on_failure: RetryOnFailure,
    /// Attributes added to every record.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Resource attributes added to every record.
    #[serde(default)]
    pub resource: BTreeMap<String, String>,
    /// An access-log format each line is parsed as before the operators (a sloop
    /// addition; see [`Format`]).
    #[serde(default)]
    pub format: Option<Format>,
    /// The stanza operators, run in order on each entry.
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,

    // Keys of the Collector sloop does not implement: read so that they are refused
    // with a message that says so (see `validate`).
    #[serde(default)]
    delete_after_read: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    include_file_owner_name: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    include_file_owner_group_name: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    include_file_record_number: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    include_file_record_offset: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    ordering_criteria: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    compression: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    acquire_fs_lock: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    polls_to_archive: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    header: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    preserve_leading_whitespaces: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    preserve_trailing_whitespaces: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    max_batches: Option<serde::de::IgnoredAny>,
}

/// `start_at`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// Read files found at the first poll from their start.
    Beginning,
    /// Skip what files found at the first poll already hold.
    #[default]
    End,
}

/// `encoding`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Encoding {
    /// UTF-8; invalid sequences become U+FFFD.
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8", alias = "UTF8")]
    Utf8,
    /// UTF-16, little endian.
    #[serde(rename = "utf-16le", alias = "UTF-16LE", alias = "utf16le")]
    Utf16Le,
    /// UTF-16, big endian.
    #[serde(rename = "utf-16be", alias = "UTF-16BE", alias = "utf16be")]
    Utf16Be,
    /// ASCII; bytes above 127 become U+FFFD.
    #[serde(rename = "ascii", alias = "ASCII", alias = "us-ascii")]
    Ascii,
    /// No decoding: the body is the line's bytes.
    #[serde(rename = "nop", alias = "NOP")]
    Nop,
}

impl Encoding {
    /// Whether the text is in 16-bit units.
    pub fn is_utf16(self) -> bool {
        matches!(self, Encoding::Utf16Le | Encoding::Utf16Be)
    }
}

/// `multiline`: exactly one of the two patterns.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// An entry starts where this matches.
    #[serde(default)]
    pub line_start_pattern: Option<String>,
    /// An entry ends where this matches.
    #[serde(default)]
    pub line_end_pattern: Option<String>,
    /// The Collector's: not implemented, refused.
    #[serde(default)]
    omit_pattern: Option<serde::de::IgnoredAny>,
}

/// `retry_on_failure`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryOnFailure {
    /// Resend refused batches (default false: log and drop them).
    #[serde(default)]
    pub enabled: bool,
    /// First wait (default 1s).
    #[serde(default = "default_initial_interval", deserialize_with = "deserialize_duration")]
    pub initial_interval: Duration,
    /// Longest wait (default 30s).
    #[serde(default = "default_max_interval", deserialize_with = "deserialize_duration")]
    pub max_interval: Duration,
    /// Give a batch up after this long (default 5m; 0: never).
    #[serde(default = "default_max_elapsed_time", deserialize_with = "deserialize_duration")]
    pub max_elapsed_time: Duration,
}

impl Default for RetryOnFailure {
    fn default() -> Self {
        Self {
            enabled: false,
            initial_interval: default_initial_interval(),
            max_interval: default_max_interval(),
            max_elapsed_time: default_max_elapsed_time(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_poll_interval() -> Duration {
    Duration::from_millis(200)
}
fn default_max_log_size() -> u64 {
    1024 * 1024
}
fn default_max_concurrent_files() -> usize {
    1024
}
fn default_fingerprint_size() -> u64 {
    1000
}
fn default_force_flush_period() -> Duration {
    Duration::from_millis(500)
}
fn default_initial_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_max_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_max_elapsed_time() -> Duration {
    Duration::from_secs(300)
}

/// Smallest `fingerprint_size` the Collector accepts.
const MIN_FINGERPRINT_SIZE: u64 = 16;

/// Parses a byte size as the Collector's `helper.ByteSize`: a plain number of bytes,
/// or a number with a unit; `kb`, `mb`, `gb` are powers of 1000, `kib`, `mib`,
/// `gib` powers of 1024 (case-insensitive; the trailing `b` optional).
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a byte size such as 1024, \"1kb\" or \"16KiB\""))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1000 * 1000,
        "g" | "gb" => 1000 * 1000 * 1000,
        "ki" | "kib" => 1024,
        "mi" | "mib" => 1024 * 1024,
        "gi" | "gib" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (b, kb, kib, mb, mib, gb, gib)"
            ))
        }
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// A byte size given as a number or as text with a unit ([`parse_byte_size`]).
fn deserialize_byte_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(u64),
        Text(String),
    }
    match Size::deserialize(deserializer)? {
        Size::Number(n) => Ok(n),
        Size::Text(text) => parse_byte_size(&text).map_err(serde::de::Error::custom),
    }
}

fn deserialize_optional_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    deserialize_duration(deserializer).map(Some)
}

impl FileLogReceiverConfig {
    /// The Collector keys present in this block that sloop refuses.
    fn unsupported_keys(&self) -> Vec<&'static str> {
        let keys = [
            ("delete_after_read", self.delete_after_read.is_some()),
            ("include_file_owner_name", self.include_file_owner_name.is_some()),
            (
                "include_file_owner_group_name",
                self.include_file_owner_group_name.is_some(),
            ),
            ("include_file_record_number", self.include_file_record_number.is_some()),
            ("include_file_record_offset", self.include_file_record_offset.is_some()),
            ("ordering_criteria", self.ordering_criteria.is_some()),
            ("compression", self.compression.is_some()),
            ("acquire_fs_lock", self.acquire_fs_lock.is_some()),
            ("polls_to_archive", self.polls_to_archive.is_some()),
            ("header", self.header.is_some()),
            (
                "preserve_leading_whitespaces",
                self.preserve_leading_whitespaces.is_some(),
            ),
            (
                "preserve_trailing_whitespaces",
                self.preserve_trailing_whitespaces.is_some(),
            ),
            ("max_batches", self.max_batches.is_some()),
        ];
        keys.into_iter()
            .filter(|(_, present)| *present)
            .map(|(key, _)| key)
            .collect()
    }

    /// The compiled `include` patterns.
    pub fn include_patterns(&self) -> Result<Vec<glob::Pattern>, ConfigError> {
        compile_globs("include", &self.include)
    }

    /// The compiled `exclude` patterns.
    pub fn exclude_patterns(&self) -> Result<Vec<glob::Pattern>, ConfigError> {
        compile_globs("exclude", &self.exclude)
    }

    /// The compiled `multiline` rule, if any.
    pub fn multiline_rule(&self) -> Result<Option<Multiline>, ConfigError> {
        let Some(multiline) = &self.multiline else {
            return Ok(None);
        };
        // Multi-line mode, as the Collector compiles them: `^` and `$` match at
        // line boundaries, not only at the ends of what has been read.
        let compile = |key: &str, pattern: &str| {
            regex::bytes::Regex::new(&format!("(?m){pattern}"))
                .map_err(|e| ConfigError::new(format!("multiline.{key}"), e.to_string()))
        };
        match (&multiline.line_start_pattern, &multiline.line_end_pattern) {
            (Some(start), None) => Ok(Some(Multiline::Start(compile("line_start_pattern", start)?))),
            (None, Some(end)) => Ok(Some(Multiline::End(compile("line_end_pattern", end)?))),
            (Some(_), Some(_)) => Err(ConfigError::new(
                "multiline",
                "line_start_pattern and line_end_pattern are exclusive: set one",
            )),
            (None, None) => Err(ConfigError::new(
                "multiline",
                "needs line_start_pattern or line_end_pattern",
            )),
        }
    }
}

/// How entries spanning several lines are told apart, compiled.
#[derive(Debug, Clone)]
pub enum Multiline {
    /// An entry starts at each match.
    Start(regex::bytes::Regex),
    /// An entry ends at the end of each match.
    End(regex::bytes::Regex),
}

fn compile_globs(key: &str, patterns: &[String]) -> Result<Vec<glob::Pattern>, ConfigError> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, pattern)| {
            glob::Pattern::new(pattern)
                .map_err(|e| ConfigError::new(format!("{key}[{i}]"), format!("{pattern:?}: {e}")))
        })
        .collect()
}

impl Validate for FileLogReceiverConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for key in self.unsupported_keys() {
            errors.push(ConfigError::new(
                key,
                "is a key of the Collector's filelog receiver that sloop does not implement",
            ));
        }
        if self.include.is_empty() {
            errors.push(ConfigError::new("include", "must list at least one glob pattern"));
        }
        if let Err(operator_errors) = Operators::build(&self.operators) {
            errors.extend(operator_errors);
        }
        errors.extend(self.include_patterns().err());
        errors.extend(self.exclude_patterns().err());
        if self.poll_interval.is_zero() {
            errors.push(ConfigError::new("poll_interval", "must be greater than 0"));
        }
        if self.max_log_size == 0 {
            errors.push(ConfigError::new("max_log_size", "must be greater than 0"));
        }
        if self.max_concurrent_files < 2 {
            errors.push(ConfigError::new("max_concurrent_files", "must be at least 2"));
        }
        if self.fingerprint_size < MIN_FINGERPRINT_SIZE {
            errors.push(ConfigError::new(
                "fingerprint_size",
                format!("must be at least {MIN_FINGERPRINT_SIZE} bytes"),
            ));
        }
        if let Some(multiline) = &self.multiline {
            if multiline.omit_pattern.is_some() {
                errors.push(ConfigError::new(
                    "multiline.omit_pattern",
                    "is a key of the Collector's filelog receiver that sloop does not implement",
                ));
            }
            if self.encoding.is_utf16() {
                errors.push(ConfigError::new(
                    "multiline",
                    "cannot be used with a UTF-16 encoding (patterns match bytes)",
                ));
            }
        }
        errors.extend(self.multiline_rule().err());
        if let Some(storage) = &self.storage {
            if storage.is_empty() {
                errors.push(ConfigError::new("storage", "must name a file_storage extension"));
            }
        }
        let retry = &self.retry_on_failure;
        if retry.initial_interval.is_zero() {
            errors.push(ConfigError::new(
                "retry_on_failure.initial_interval",
                "must be greater than 0",
            ));
        }
        if retry.max_interval < retry.initial_interval {
            errors.push(ConfigError::new(
                "retry_on_failure.max_interval",
                "must not be less than initial_interval",
            ));
        }
        for (key, map) in [("attributes", &self.attributes), ("resource", &self.resource)] {
            for (name, value) in map {
                if value.trim_start().starts_with("EXPR(") {
                    errors.push(ConfigError::new(
                        format!("{key}.{name}"),
                        "expressions (EXPR(...)) are not implemented; give a literal value",
                    ));
                }
            }
        }
        errors
    }
}
