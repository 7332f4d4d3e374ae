//! `debug` exporter config, and the removed `logging` exporter's keys it still reads.

use serde::Deserialize;

use crate::confmap::{case_insensitive_option, ConfigError, Validate};
use crate::exporters::{default_timeout, HelperSettings, QueueConfig, RetryConfig};

/// `exporters.debug` (and `exporters.logging`, its deprecated name).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugConfig {
    /// How much to write; read case-insensitively (`Detailed`), as the Collector does.
    #[serde(default, deserialize_with = "case_insensitive_option")]
    verbosity: Option<Verbosity>,
    /// The `logging` exporter's level (`debug`, `info`, `warn`, `error`), which the
    /// Collector removed in favour of `verbosity`: `debug` is `detailed`, `info`
    /// `normal`, `warn` and `error` `basic`.
    #[serde(default, deserialize_with = "case_insensitive_option")]
    loglevel: Option<LogLevel>,
    /// Batches written in full each second before sampling starts (default 2).
    #[serde(default = "default_sampling_initial")]
    pub sampling_initial: u64,
    /// After `sampling_initial` in a second, every n-th batch is written in full;
    /// the others get their summary line only (default 1: every batch).
    #[serde(default = "default_sampling_thereafter")]
    pub sampling_thereafter: u64,
    /// `true` (default): write to stderr, where sloop's logs go; `false`: to stdout.
    #[serde(default = "default_true")]
    pub use_internal_logger: bool,
}

fn default_sampling_initial() -> u64 {
    2
}

fn default_sampling_thereafter() -> u64 {
    1
}

fn default_true() -> bool {
    true
}

/// Output detail, named as in the Collector.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// One summary line per batch.
    #[default]
    Basic,
    /// One line per item.
    Normal,
    /// Everything, as pretty OTLP/JSON.
    Detailed,
}

/// The `logging` exporter's `loglevel`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl DebugConfig {
    /// The verbosity set, or the one `loglevel` maps to, or `basic`.
    pub fn verbosity(&self) -> Verbosity {
        match (self.verbosity, self.loglevel) {
            (Some(verbosity), _) => verbosity,
            (None, Some(LogLevel::Debug)) => Verbosity::Detailed,
            (None, Some(LogLevel::Info)) => Verbosity::Normal,
            (None, Some(LogLevel::Warn | LogLevel::Error)) | (None, None) => Verbosity::Basic,
        }
    }
}

impl Validate for DebugConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.verbosity.is_some() && self.loglevel.is_some() {
            errors.push(ConfigError::new(
                "loglevel",
                "set either loglevel (the logging exporter's, deprecated) or verbosity, not both",
            ));
        }
        if self.sampling_thereafter == 0 {
            errors.push(ConfigError::new("sampling_thereafter", "must be at least 1"));
        }
        errors
    }
}

/// Writing to stderr needs no retries; a small queue keeps the pipeline from waiting
/// on a slow terminal.
pub fn helper() -> HelperSettings {
    HelperSettings {
        timeout: default_timeout(),
        queue: QueueConfig {
            enabled: true,
            num_consumers: 1,
            queue_size: 100,
            ..QueueConfig::default()
        },
        retry: RetryConfig {
            enabled: false,
            ..RetryConfig::default()
        },
    }
}
