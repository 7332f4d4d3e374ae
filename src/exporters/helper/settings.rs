//! Settings shared by exporters, with the Collector's key names and defaults:
//! `sending_queue`, `retry_on_failure`, `timeout`, `compression`, `tls`.

use std::time::Duration;

use serde::Deserialize;

use crate::component::ComponentId;
use crate::confmap::{deserialize_duration, deserialize_present, ConfigError, Validate};
pub use crate::storage::Sizer;

/// The exporterhelper settings the topology applies around an exporter.
#[derive(Debug, Clone)]
pub struct HelperSettings {
    /// Per-attempt deadline.
    pub timeout: Duration,
    /// `sending_queue`.
    pub queue: QueueConfig,
    /// `retry_on_failure`.
    pub retry: RetryConfig,
}

/// `sending_queue`: a bounded queue drained by `num_consumers` workers, in memory or,
/// with `storage`, on disk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// With the queue off, the pipeline waits for each export (and its retries).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Concurrent sends (default 10).
    #[serde(default = "default_num_consumers")]
    pub num_consumers: usize,
    /// What the queue holds before refusing more, in `sizer` units (default 1000).
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
    /// What `queue_size` counts: `requests` (default), `items` or `bytes`.
    #[serde(default)]
    pub sizer: Sizer,
    /// A `file_storage` extension (listed in `service.extensions`): the queue is
    /// kept in its directory, survives restarts, and a client is answered only
    /// once its data is written there.
    #[serde(default)]
    pub storage: Option<String>,
    /// When full, make the client wait for room instead of refusing (default false).
    #[serde(default)]
    pub block_on_overflow: bool,
    /// Answer the client only once the backend took the data (or it was given up
    /// on); in-memory queues only (default false).
    #[serde(default)]
    pub wait_for_result: bool,
    /// Batching in the queue (`batch: {}` for the defaults); off when absent.
    #[serde(default, deserialize_with = "deserialize_present")]
    pub batch: Option<QueueBatchConfig>,
}

/// `sending_queue.batch`: the queue's workers send requests merged into batches,
/// as the Collector's exporterhelper does (the Collector's documented replacement
/// for the batch processor).
///
/// A worker takes a request, then keeps taking more until the batch reaches
/// `min_size` or `flush_timeout` has passed since the first; requests merge by
/// concatenating their protobuf encodings (nothing is decoded). With `max_size`,
/// whole requests are packed into batches of at most that size, and a single
/// request larger than it is split. Requests from different clients (whose
/// metadata an exporter may send on, `headers_setter`'s `from_context`) are not
/// merged. A persistent queue does not wait: it merges the records that are ready,
/// up to its own cap of 8192 items and 3 MiB, and these sizes do not apply to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueBatchConfig {
    /// Send a batch this long after its first request, whatever its size (default
    /// 200ms; must not be 0).
    #[serde(default = "default_flush_timeout", deserialize_with = "deserialize_duration")]
    pub flush_timeout: Duration,
    /// Send as soon as a batch is this big, in `sizer` units (default 8192).
    #[serde(default = "default_min_size")]
    pub min_size: u64,
    /// Largest batch, in `sizer` units; 0 (default) for no limit.
    #[serde(default)]
    pub max_size: u64,
    /// What the sizes count: `items` (default), `bytes` or `requests`.
    #[serde(default = "default_batch_sizer")]
    pub sizer: Sizer,
}

impl Default for QueueBatchConfig {
    fn default() -> Self {
        Self {
            flush_timeout: default_flush_timeout(),
            min_size: default_min_size(),
            max_size: 0,
            sizer: default_batch_sizer(),
        }
    }
}

fn default_flush_timeout() -> Duration {
    Duration::from_millis(200)
}
fn default_min_size() -> u64 {
    8192
}
fn default_batch_sizer() -> Sizer {
    Sizer::Items
}

impl Validate for QueueBatchConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.flush_timeout.is_zero() {
            errors.push(ConfigError::new("flush_timeout", "must be greater than 0"));
        }
        if self.max_size != 0 && self.max_size < self.min_size {
            errors.push(ConfigError::new(
                "max_size",
                format!("must be 0 (no limit) or at least min_size ({})", self.min_size),
            ));
        }
        errors
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            num_consumers: default_num_consumers(),
            queue_size: default_queue_size(),
            sizer: Sizer::default(),
            storage: None,
            block_on_overflow: false,
            wait_for_result: false,
            batch: None,
        }
    }
}

impl Validate for QueueConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Some(batch) = &self.batch {
            errors.extend(batch.validate().into_iter().map(|e| e.under("batch")));
        }
        if self.enabled && self.queue_size == 0 {
            errors.push(ConfigError::new("queue_size", "must be greater than 0"));
        }
        if self.enabled && self.num_consumers == 0 {
            errors.push(ConfigError::new("num_consumers", "must be greater than 0"));
        }
        if let Some(storage) = &self.storage {
            if let Err(error) = ComponentId::parse(storage) {
                errors.push(ConfigError::new("storage", error.to_string()));
            }
            if !self.enabled {
                errors.push(ConfigError::new(
                    "storage",
                    "needs the queue (enabled: true): without it there is nothing to keep on disk",
                ));
            }
            if self.wait_for_result {
                errors.push(ConfigError::new(
                    "wait_for_result",
                    "applies to in-memory queues; a persistent queue answers once the data is on disk",
                ));
            }
        }
        errors
    }
}

fn yes() -> bool {
    true
}
fn default_num_consumers() -> usize {
    10
}
fn default_queue_size() -> usize {
    1000
}

/// `retry_on_failure`: exponential backoff with jitter, bounded in total time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Off: a failed attempt drops the batch (counted).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// First wait (default 5s).
    #[serde(default = "default_initial_interval", deserialize_with = "deserialize_duration")]
    pub initial_interval: Duration,
    /// Jitter: each wait is scaled by a random factor in `[1-r, 1+r]` (default 0.5).
    #[serde(default = "default_randomization_factor")]
    pub randomization_factor: f64,
    /// Growth per attempt (default 1.5).
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Longest single wait (default 30s).
    #[serde(default = "default_max_interval", deserialize_with = "deserialize_duration")]
    pub max_interval: Duration,
    /// Give up after this long in total; 0 retries forever (default 300s).
    #[serde(default = "default_max_elapsed_time", deserialize_with = "deserialize_duration")]
    pub max_elapsed_time: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: default_initial_interval(),
            randomization_factor: default_randomization_factor(),
            multiplier: default_multiplier(),
            max_interval: default_max_interval(),
            max_elapsed_time: default_max_elapsed_time(),
        }
    }
}

impl Validate for RetryConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            errors.push(ConfigError::new("randomization_factor", "must be between 0 and 1"));
        }
        if self.multiplier < 1.0 || !self.multiplier.is_finite() {
            errors.push(ConfigError::new("multiplier", "must be at least 1"));
        }
        if self.initial_interval.is_zero() && self.enabled {
            errors.push(ConfigError::new("initial_interval", "must be greater than 0"));
        }
        if self.max_interval < self.initial_interval {
            errors.push(ConfigError::new(
                "max_interval",
                "must not be less than initial_interval",
            ));
        }
        errors
    }
}

fn default_initial_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_randomization_factor() -> f64 {
    0.5
}
fn default_multiplier() -> f64 {
    1.5
}
fn default_max_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_max_elapsed_time() -> Duration {
    Duration::from_secs(300)
}

/// The default per-attempt `timeout` (5s, as in the Collector).
pub fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// `compression` for OTLP exporters (default gzip, as in the Collector).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (default).
    #[default]
    Gzip,
    /// zstd.
    Zstd,
    /// No compression.
    None,
}

/// `compression_params` (the Collector's configcompression): the level of
/// `compression`.
///
/// - gzip: `1` (fastest) to `9` (smallest); `-1` or `0` (what the Collector fills in
///   when the key is absent) mean the default, [`DEFAULT_GZIP_LEVEL`]. The
///   Collector also takes `-2` (Huffman-only), which flate2 cannot do: refused.
/// - zstd: any level; as in the Collector, one beyond zstd's range is taken as
///   the nearest it has (`-131072` to `22`), `0` is the default, [`DEFAULT_ZSTD_LEVEL`].
/// - none: no level (any other than `0` is refused, as in the Collector).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CompressionParams {
    /// The compression level; absent for the default.
    #[serde(default)]
    pub level: Option<i32>,
}

/// gzip's level when none is set. The Collector's (Go's `DefaultCompression`)
/// is 6; sloop's is 1, the fastest: on an 8192-span batch (3.0 MB) level 6 costs
/// 3.8 times the instructions of level 1 (140M vs 36.5M, zlib-rs) for a body 24%
/// smaller (329 KB vs 434 KB); see `benches/compress.rs`.
pub const DEFAULT_GZIP_LEVEL: u32 = 1;

/// zstd's level when none is set: zstd's own default (as tonic's).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

impl CompressionParams {
    /// The gzip level to compress with.
    pub fn gzip_level(&self) -> u32 {
        match self.level {
            Some(level @ 1..=9) => level as u32,
            _ => DEFAULT_GZIP_LEVEL,
        }
    }

    /// The zstd level to compress with, within zstd's range.
    pub fn zstd_level(&self) -> i32 {
        match self.level {
            None | Some(0) => DEFAULT_ZSTD_LEVEL,
            Some(level) => {
                let range = zstd::compression_level_range();
                level.clamp(*range.start(), *range.end())
            }
        }
    }

    /// Checks the level against `compression`; paths are relative to the
    /// exporter (`compression_params.level`).
    pub fn validate(&self, compression: Compression) -> Vec<ConfigError> {
        let Some(level) = self.level else {
            return Vec::new();
        };
        let problem = match compression {
            Compression::Gzip => match level {
                -1..=9 => None,
                -2 => Some("-2 (Huffman-only) is not supported for gzip; use 1 for the fastest".to_string()),
                _ => Some(format!(
                    "{level} is not a gzip level: use 1 (fastest) to 9 (smallest), or -1 for the default"
                )),
            },
            Compression::Zstd => None,
            Compression::None if level != 0 => Some(format!(
                "{level}: compression is none, so there is no level to set (set compression: gzip or zstd)"
            )),
            Compression::None => None,
        };
        problem
            .map(|message| ConfigError::new("compression_params.level", message))
            .into_iter()
            .collect()
    }
}

/// `tls` for exporters (see [`crate::tls`]). Without it, the connection uses TLS
/// with the system roots unless the endpoint says `http://`.
pub use crate::tls::ClientTls;

/// Runs the `Validate` checks of the shared blocks of an exporter config, with paths.
pub fn validate_helper(queue: &QueueConfig, retry: &RetryConfig, timeout: Duration) -> Vec<ConfigError> {
    let mut errors: Vec<ConfigError> = queue.validate().into_iter().map(|e| e.under("sending_queue")).collect();
    errors.extend(retry.validate().into_iter().map(|e| e.under("retry_on_failure")));
    if timeout.is_zero() {
        errors.push(ConfigError::new("timeout", "must be greater than 0"));
    }
    errors
}
