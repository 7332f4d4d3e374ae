//! `service.telemetry`: sloop's own logs, self-metrics readers and resource, in the
//! Collector's dialect (its `otelconf` shape since v0.123).
//!
//! Keys the Collector has and sloop cannot honour are parsed so that they can be
//! refused with an error that says why, rather than as an "unknown field".
//!
//! ```yaml
//! service:
//!   telemetry:
//!     logs: {level: INFO, encoding: json, output_paths: [stderr]}
//!     resource: {deployment.environment.name: prod, service.instance.id: null}
//!     metrics:
//!       level: normal
//!       readers:
//!         - pull: {exporter: {prometheus: {host: 127.0.0.1, port: 8888}}}
//!         - periodic:
//!             interval: 60000
//!             exporter: {otlp: {protocol: grpc, endpoint: http://127.0.0.1:14317, insecure: true}}
//! ```
//!
//! What differs from the Collector:
//! - One scope (`sloop`) for every self-metric; the Collector has one per component
//!   package. Histograms use the SDK's default bucket bounds.
//! - `metrics.level` `basic`, `normal` and `detailed` record the same metrics.
//! - `address` together with `readers` is an error (the Collector appended the
//!   address as one more reader); alone it logs the Collector's deprecation warning.
//! - Refused: `traces`, `metrics.views`, `logs.initial_fields`, `logs.processors`;
//!   in periodic readers the `console` exporter, `http/json`, `delta` and
//!   `low_memory` temporality, exponential histograms, TLS files (`certificate`,
//!   `client_key`, `client_certificate`), `producers`, `cardinality_limits`.
//! - Accepted without effect: `logs.sampling` (logged at start when enabled),
//!   `development`, `disable_stacktrace`, `error_output_paths` (checked only);
//!   `disable_caller` leaves out the module a line comes from.
//! - Log levels `dpanic`, `panic` and `fatal` log errors only.
//! - Readers start with the service; a config reload does not restart them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use figment::value::Value;
use serde::{Deserialize, Deserializer};

use crate::confmap::{null_as_default, ConfigError, Validate};

/// `service.telemetry`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `service.telemetry.logs`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub logs: LogsConfig,
    /// `service.telemetry.metrics`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metrics: MetricsConfig,
    /// `service.telemetry.resource`: attributes of every self-metric export; a null
    /// value removes one of the defaults (`service.name`, `service.version`,
    /// `service.instance.id`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub resource: BTreeMap<String, Option<AttributeText>>,
    /// `service.telemetry.traces`: refused (sloop does not trace itself).
    #[serde(default)]
    traces: Option<Value>,
}

/// Checked by [`TelemetryConfig::check`] once the whole service block is read.
impl Validate for TelemetryConfig {}

impl TelemetryConfig {
    /// Problems the types do not catch, with paths under `service.telemetry`.
    pub fn check(&self) -> Vec<ConfigError> {
        let mut errors = self.logs.check();
        errors.extend(self.metrics.check());
        if self.traces.as_ref().is_some_and(|v| !is_empty(v)) {
            errors.push(ConfigError::new(
                "traces",
                "sloop does not trace itself, so it has no internal spans to export; remove this block",
            ));
        }
        errors.into_iter().map(|e| e.under("service.telemetry")).collect()
    }
}

/// A resource attribute value as written; numbers and booleans are kept as their
/// text, as the Collector's string-typed `resource` map does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeText(pub String);

impl<'de> Deserialize<'de> for AttributeText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Scalar {
            Text(String),
            Int(i64),
            Float(f64),
            Bool(bool),
        }
        let text = match Scalar::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("expected a string, number or boolean attribute value"))?
        {
            Scalar::Text(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        };
        Ok(AttributeText(text))
    }
}

/// A key the Collector has and sloop refuses, when it is set to anything but an
/// empty block.
fn refuse(errors: &mut Vec<ConfigError>, value: &Option<Value>, path: &str, why: &str) {
    if value.as_ref().is_some_and(|v| !is_empty(v)) {
        errors.push(ConfigError::new(path, why));
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Empty(..) => true,
        Value::Dict(_, dict) => dict.is_empty(),
        Value::Array(_, items) => items.is_empty(),
        _ => false,
    }
}

/// Deserializes an enum from its name through `FromStr`, whose impls here ignore
/// case (`INFO`, `Debug`) as the Collector's level parsers do.
fn from_name<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    let text = String::deserialize(deserializer)?;
    T::from_str(&text).map_err(serde::de::Error::custom)
}

/// The value named `text`, ignoring case, in `names` (listed in the error) or in
/// `aliases` (not).
fn named<T: Copy>(text: &str, what: &str, names: &[(&str, T)], aliases: &[(&str, T)]) -> Result<T, String> {
    names
        .iter()
        .chain(aliases)
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let expected: Vec<&str> = names.iter().map(|(name, _)| *name).collect();
            format!("unknown {what} {text:?}, expected one of: {}", expected.join(", "))
        })
}

/// `service.telemetry.logs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// `debug`, `info`, `warn`, `error` (any case; default `info`); zap's `dpanic`,
    /// `panic` and `fatal` log errors only, as `error` does.
    #[serde(default = "default_log_level", deserialize_with = "from_name")]
    pub level: LogLevel,
    /// `console` (human-readable) or `json`.
    #[serde(default, deserialize_with = "from_name")]
    pub encoding: LogEncoding,
    /// Accepted for compatibility; zap's development mode changes nothing in sloop.
    #[serde(default)]
    pub development: bool,
    /// Leaves out the module each line comes from (sloop's stand-in for zap's caller).
    #[serde(default)]
    pub disable_caller: bool,
    /// Accepted for compatibility; sloop's log lines carry no stack traces.
    #[serde(default)]
    pub disable_stacktrace: bool,
    /// zap's sampling; sloop does not sample its logs (it logs repeated problems at
    /// a bounded rate at their source), and says so at start when this is enabled.
    #[serde(default)]
    pub sampling: Option<LogsSampling>,
    /// Where log lines go: `stderr`, `stdout` or a file path (appended to); default
    /// `[stderr]`.
    #[serde(default = "default_output_paths")]
    pub output_paths: Vec<String>,
    /// zap's own error output; checked like `output_paths`, unused (sloop's logger has
    /// no internal errors to report).
    #[serde(default = "default_output_paths")]
    pub error_output_paths: Vec<String>,
    /// Refused: fields added to every line.
    #[serde(default)]
    initial_fields: Option<Value>,
    /// Refused: exporting logs over OTLP.
    #[serde(default)]
    processors: Option<Value>,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            level: default_log_level(),
            encoding: LogEncoding::default(),
            development: false,
            disable_caller: false,
            disable_stacktrace: false,
            sampling: None,
            output_paths: default_output_paths(),
            error_output_paths: default_output_paths(),
            initial_fields: None,
            processors: None,
        }
    }
}

impl LogsConfig {
    fn check(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (key, paths) in [
            ("output_paths", &self.output_paths),
            ("error_output_paths", &self.error_output_paths),
        ] {
            if paths.is_empty() {
                errors.push(ConfigError::new(
                    format!("logs.{key}"),
                    "needs at least one of stderr, stdout or a file path",
                ));
            }
            for (i, path) in paths.iter().enumerate() {
                if let Err(message) = LogOutput::parse(path) {
                    errors.push(ConfigError::new(format!("logs.{key}.{i}"), message));
                }
            }
        }
        refuse(
            &mut errors,
            &self.initial_fields,
            "logs.initial_fields",
            "sloop cannot add fields to every log line; remove initial_fields (put such facts in service.telemetry.resource)",
        );
        refuse(
            &mut errors,
            &self.processors,
            "logs.processors",
            "sloop does not export its own logs over OTLP; remove logs.processors (its logs go to output_paths)",
        );
        errors
    }

    /// Whether the config asks for zap's log sampling, which sloop does not do.
    pub fn sampling_requested(&self) -> bool {
        self.sampling.as_ref().is_some_and(|s| s.enabled)
    }

    /// Where log lines go, parsed (checked at config time).
    pub fn outputs(&self) -> Vec<LogOutput> {
        self.output_paths
            .iter()
            .filter_map(|p| LogOutput::parse(p).ok())
            .collect()
    }
}

fn default_log_level() -> LogLevel {
    LogLevel::Info
}

fn default_output_paths() -> Vec<String> {
    vec!["stderr".into()]
}

/// zap's `sampling` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsSampling {
    /// Whether sampling is on (the Collector's default).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Sampling window.
    #[serde(default, deserialize_with = "crate::confmap::deserialize_duration")]
    pub tick: Duration,
    /// Lines logged per window before sampling.
    #[serde(default)]
    pub initial: u64,
    /// Then one in this many.
    #[serde(default)]
    pub thereafter: u64,
}

fn enabled_by_default() -> bool {
    true
}

/// One destination of log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutput {
    /// Standard error.
    Stderr,
    /// Standard output.
    Stdout,
    /// A file, appended to (created if missing).
    File(std::path::PathBuf),
}

impl LogOutput {
    /// `stderr`, `stdout`, a path, or a `file://` URL of a path, as zap takes them.
    pub fn parse(text: &str) -> Result<LogOutput, String> {
        match text {
            "stderr" => Ok(LogOutput::Stderr),
            "stdout" => Ok(LogOutput::Stdout),
            "" => Err("empty path; use stderr, stdout or a file path".into()),
            other => {
                let path = other.strip_prefix("file://").unwrap_or(other);
                if path.contains("://") {
                    return Err(format!("{other:?}: only stderr, stdout and file paths are supported"));
                }
                Ok(LogOutput::File(path.into()))
            }
        }
    }
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Everything, including per-request detail.
    Debug,
    /// Lifecycle and notable events.
    Info,
    /// Problems that lose nothing yet.
    Warn,
    /// Problems that lost data or stopped a component.
    Error,
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        use LogLevel::*;
        let names = [("debug", Debug), ("info", Info), ("warn", Warn), ("error", Error)];
        // zap's levels above error: sloop logs those as errors.
        let zap_only = [("dpanic", Error), ("panic", Error), ("fatal", Error)];
        named(text, "log level", &names, &zap_only)
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogEncoding {
    /// Human-readable lines.
    #[default]
    Console,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogEncoding {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        named(
            text,
            "log encoding",
            &[("console", Self::Console), ("json", Self::Json)],
            &[],
        )
    }
}

/// `service.telemetry.metrics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `none` turns self-metrics off; `basic`, `normal` (default), `detailed` (any
    /// case) all record the same metrics in sloop.
    #[serde(default, deserialize_with = "from_name")]
    pub level: MetricsLevel,
    /// Deprecated: where Prometheus scrapes `/metrics`; use `readers`.
    #[serde(default)]
    pub address: Option<String>,
    /// Pull (Prometheus) and periodic (OTLP) readers. Without them and without
    /// `address`, self-metrics are served at `127.0.0.1:8888`.
    #[serde(default)]
    pub readers: Option<Vec<MetricReader>>,
    /// Refused: metric views.
    #[serde(default)]
    views: Option<Value>,
}

/// Self-metrics detail level, named as in the Collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MetricsLevel {
    /// No self-metrics.
    None,
    /// Component counters.
    Basic,
    /// Same as basic in sloop today.
    #[default]
    Normal,
    /// Same as basic in sloop today.
    Detailed,
}

impl FromStr for MetricsLevel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        use MetricsLevel::*;
        let names = [
            ("none", None),
            ("basic", Basic),
            ("normal", Normal),
            ("detailed", Detailed),
        ];
        named(text, "metrics level", &names, &[])
    }
}

/// Where self-metrics are served when neither `address` nor `readers` is set.
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:8888";

impl MetricsConfig {
    fn check(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.address.is_some() && self.readers.is_some() {
            errors.push(ConfigError::new(
                "metrics.address",
                "set either address (deprecated) or readers, not both; move the address into a pull reader: \
                 readers: [{pull: {exporter: {prometheus: {host: ..., port: ...}}}}]",
            ));
        }
        if let Some(address) = &self.address {
            if let Err(message) = split_host_port(address) {
                errors.push(ConfigError::new("metrics.address", message));
            }
        }
        for (i, reader) in self.readers.iter().flatten().enumerate() {
            errors.extend(
                reader
                    .check()
                    .into_iter()
                    .map(|e| e.under(&format!("metrics.readers.{i}"))),
            );
        }
        refuse(
            &mut errors,
            &self.views,
            "metrics.views",
            "sloop does not support metric views; remove metrics.views",
        );
        errors
    }

    /// The readers to run, each with the config path to name in errors: none at
    /// level `none`; the configured readers; the deprecated `address` as a pull
    /// reader in the Collector's legacy form; or that form on `127.0.0.1:8888`.
    /// Valid after [`TelemetryConfig::check`].
    pub fn readers_to_run(&self) -> Vec<(String, MetricReader)> {
        const PATH: &str = "service.telemetry.metrics";
        if self.level == MetricsLevel::None {
            return Vec::new();
        }
        if let Some(readers) = &self.readers {
            return readers
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("{PATH}.readers.{i}"), r.clone()))
                .collect();
        }
        let address = self.address.as_deref().unwrap_or(DEFAULT_METRICS_ADDRESS);
        let (host, port) = split_host_port(address).unwrap_or_else(|_| ("127.0.0.1".into(), 8888));
        let reader = MetricReader {
            pull: Some(PullReader {
                exporter: PullExporter {
                    prometheus: Some(PrometheusReader::legacy(host, port)),
                },
            }),
            periodic: None,
        };
        vec![(format!("{PATH}.address"), reader)]
    }
}

/// `host:port` (IPv6 hosts in brackets) as the Collector's `net.SplitHostPort` takes it.
fn split_host_port(address: &str) -> Result<(String, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("{address:?} is not a host:port address"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{address:?}: the port {port:?} is not a number from 0 to 65535"))?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    Ok((host.to_string(), port))
}

/// One entry of `metrics.readers`: exactly one of `pull` or `periodic`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricReader {
    /// Serves self-metrics for scraping.
    #[serde(default)]
    pub pull: Option<PullReader>,
    /// Pushes self-metrics every `interval`.
    #[serde(default)]
    pub periodic: Option<PeriodicReader>,
}

impl MetricReader {
    fn check(&self) -> Vec<ConfigError> {
        match (&self.pull, &self.periodic) {
            (Some(pull), None) => pull.check().into_iter().map(|e| e.under("pull")).collect(),
            (None, Some(periodic)) => periodic.check().into_iter().map(|e| e.under("periodic")).collect(),
            _ => vec![ConfigError::new("", "a reader needs exactly one of pull or periodic")],
        }
    }
}

/// `pull: {exporter: ...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullReader {
    /// What serves the metrics.
    pub exporter: PullExporter,
}

impl PullReader {
    fn check(&self) -> Vec<ConfigError> {
        match &self.exporter.prometheus {
            Some(prometheus) => prometheus
                .check()
                .into_iter()
                .map(|e| e.under("exporter.prometheus"))
                .collect(),
            None => vec![ConfigError::new("exporter", "a pull reader needs exporter.prometheus")],
        }
    }
}

/// `pull.exporter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullExporter {
    /// The Prometheus text endpoint.
    #[serde(default)]
    pub prometheus: Option<PrometheusReader>,
}

/// `pull.exporter.prometheus`: serves `GET /metrics` (and sloop's SLO status API)
/// at `host:port`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusReader {
    /// Interface to listen on (default `localhost`).
    #[serde(default = "default_prometheus_host")]
    pub host: String,
    /// Port (default 9464, the OpenTelemetry SDK's).
    #[serde(default = "default_prometheus_port")]
    pub port: u16,
    /// Leaves out unit suffixes (`_seconds`, `_bytes`).
    #[serde(default)]
    pub without_units: bool,
    /// Leaves out `_total` on counters.
    #[serde(default)]
    pub without_type_suffix: bool,
    /// Leaves out the `otel_scope_name`/`otel_scope_version` labels.
    #[serde(default)]
    pub without_scope_info: bool,
    /// Leaves out the `target_info` series that carries the resource.
    #[serde(default)]
    pub without_target_info: bool,
    /// Resource attributes to put on every series as labels.
    #[serde(default)]
    pub with_resource_constant_labels: Option<IncludeExclude>,
}

impl PrometheusReader {
    /// The reader the Collector makes of the deprecated `address` (and its default):
    /// no suffixes, no scope labels, no resource labels.
    pub fn legacy(host: String, port: u16) -> PrometheusReader {
        PrometheusReader {
            host,
            port,
            without_units: true,
            without_type_suffix: true,
            without_scope_info: true,
            without_target_info: false,
            with_resource_constant_labels: None,
        }
    }

    fn check(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.host.is_empty() {
            errors.push(ConfigError::new(
                "host",
                "empty host; use an address such as 127.0.0.1 or 0.0.0.0",
            ));
        }
        errors
    }
}

fn default_prometheus_host() -> String {
    "localhost".into()
}

fn default_prometheus_port() -> u16 {
    9464
}

/// `with_resource_constant_labels`: which resource attributes become labels.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeExclude {
    /// Only these (when not empty).
    #[serde(default)]
    pub included: Vec<String>,
    /// Never these.
    #[serde(default)]
    pub excluded: Vec<String>,
}

impl IncludeExclude {
    /// Whether the attribute `key` becomes a label. As in the OpenTelemetry Go SDK's
    /// configuration: `included` lists the keys kept, else `excluded` the keys left
    /// out; with both empty no attribute is kept.
    pub fn keeps(&self, key: &str) -> bool {
        if !self.included.is_empty() {
            return self.included.iter().any(|k| k == key) && !self.excluded.iter().any(|k| k == key);
        }
        !self.excluded.is_empty() && !self.excluded.iter().any(|k| k == key)
    }
}

/// `periodic: {interval, timeout, exporter}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodicReader {
    /// Milliseconds between exports (default 60000).
    #[serde(default = "default_interval", deserialize_with = "deserialize_millis")]
    pub interval: Duration,
    /// Milliseconds one export may take (default 30000).
    #[serde(default = "default_timeout", deserialize_with = "deserialize_millis")]
    pub timeout: Duration,
    /// Where to push.
    pub exporter: PushExporter,
    /// Refused: metric producers.
    #[serde(default)]
    producers: Option<Value>,
    /// Refused: cardinality limits.
    #[serde(default)]
    cardinality_limits: Option<Value>,
}

impl PeriodicReader {
    fn check(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.interval.is_zero() {
            errors.push(ConfigError::new("interval", "must be more than 0"));
        }
        if self.timeout.is_zero() {
            errors.push(ConfigError::new("timeout", "must be more than 0"));
        }
        refuse(
            &mut errors,
            &self.producers,
            "producers",
            "sloop has no metric producers besides its own; remove producers",
        );
        refuse(
            &mut errors,
            &self.cardinality_limits,
            "cardinality_limits",
            "sloop does not limit self-metric cardinality; remove cardinality_limits",
        );
        refuse(
            &mut errors,
            &self.exporter.console,
            "exporter.console",
            "sloop has no console metric exporter; use otlp, or a pull reader",
        );
        match &self.exporter.otlp {
            Some(otlp) => errors.extend(otlp.check().into_iter().map(|e| e.under("exporter.otlp"))),
            None if self.exporter.console.is_none() => {
                errors.push(ConfigError::new("exporter", "a periodic reader needs exporter.otlp"))
            }
            None => {}
        }
        errors
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// The SDK configuration's integer milliseconds; a duration string (`10s`) is
/// accepted too.
fn deserialize_millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Millis {
        Number(u64),
        Text(String),
    }
    match Millis::deserialize(deserializer)
        .map_err(|_| serde::de::Error::custom("expected milliseconds (an integer) or a duration such as 10s"))?
    {
        Millis::Number(ms) => Ok(Duration::from_millis(ms)),
        Millis::Text(text) => match text.parse::<u64>() {
            Ok(ms) => Ok(Duration::from_millis(ms)),
            Err(_) => crate::confmap::parse_duration(&text).map_err(serde::de::Error::custom),
        },
    }
}

/// `periodic.exporter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushExporter {
    /// OTLP over gRPC or HTTP.
    #[serde(default)]
    pub otlp: Option<OtlpPush>,
    /// Refused: printing metrics to stdout.
    #[serde(default)]
    console: Option<Value>,
}

/// `periodic.exporter.otlp`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpPush {
    /// `grpc` or `http/protobuf` (default `http/protobuf`, as the SDK's).
    #[serde(default, deserialize_with = "from_name")]
    pub protocol: OtlpProtocol,
    /// gRPC: `http(s)://host:port` or `host:port`; HTTP: the full URL, `/v1/metrics`
    /// added when it has no path.
    pub endpoint: String,
    /// Headers sent with every export: a list of `{name, value}`.
    #[serde(default)]
    pub headers: Vec<NameValue>,
    /// Headers as `name=value,name2=value2`.
    #[serde(default)]
    pub headers_list: Option<String>,
    /// `gzip` or `none`.
    #[serde(default, deserialize_with = "from_name")]
    pub compression: PushCompression,
    /// Milliseconds one request may take (default 10000).
    #[serde(default = "default_export_timeout", deserialize_with = "deserialize_millis")]
    pub timeout: Duration,
    /// gRPC without TLS when the endpoint has no scheme.
    #[serde(default)]
    pub insecure: bool,
    /// `cumulative` only.
    #[serde(default)]
    pub temporality_preference: Option<String>,
    /// `explicit_bucket_histogram` only.
    #[serde(default)]
    pub default_histogram_aggregation: Option<String>,
    /// Refused: TLS files.
    #[serde(default)]
    certificate: Option<Value>,
    /// Refused: TLS files.
    #[serde(default)]
    client_key: Option<Value>,
    /// Refused: TLS files.
    #[serde(default)]
    client_certificate: Option<Value>,
}

fn default_export_timeout() -> Duration {
    Duration::from_secs(10)
}

impl OtlpPush {
    fn check(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.endpoint.is_empty() {
            errors.push(ConfigError::new("endpoint", "empty endpoint"));
        } else if let Err(message) = self.url() {
            errors.push(ConfigError::new("endpoint", message));
        }
        if let Err(message) = self.all_headers() {
            errors.push(ConfigError::new("headers_list", message));
        }
        if let Some(t) = &self.temporality_preference {
            if !t.eq_ignore_ascii_case("cumulative") {
                errors.push(ConfigError::new(
                    "temporality_preference",
                    format!("{t:?}: sloop pushes cumulative self-metrics only; use cumulative"),
                ));
            }
        }
        if let Some(a) = &self.default_histogram_aggregation {
            if !a.eq_ignore_ascii_case("explicit_bucket_histogram") {
                errors.push(ConfigError::new(
                    "default_histogram_aggregation",
                    format!("{a:?}: sloop pushes explicit-bucket histograms only; use explicit_bucket_histogram"),
                ));
            }
        }
        for (key, value) in [
            ("certificate", &self.certificate),
            ("client_key", &self.client_key),
            ("client_certificate", &self.client_certificate),
        ] {
            refuse(
                &mut errors,
                value,
                key,
                "sloop's self-metrics push does not take TLS files; use an https endpoint with the system's trusted roots, or a local collector",
            );
        }
        if self.timeout.is_zero() {
            errors.push(ConfigError::new("timeout", "must be more than 0"));
        }
        errors
    }

    /// The URL to send to: gRPC endpoints without a scheme get `http://` when
    /// `insecure`, else `https://`; HTTP endpoints without a path get `/v1/metrics`.
    pub fn url(&self) -> Result<String, String> {
        let endpoint = self.endpoint.trim_end_matches('/');
        let with_scheme = if endpoint.contains("://") {
            endpoint.to_string()
        } else if self.insecure {
            format!("http://{endpoint}")
        } else {
            format!("https://{endpoint}")
        };
        let Some((scheme, rest)) = with_scheme.split_once("://") else {
            return Err(format!("{:?} is not a URL", self.endpoint));
        };
        if scheme != "http" && scheme != "https" {
            return Err(format!("{:?}: the scheme must be http or https", self.endpoint));
        }
        let authority = rest.split('/').next().unwrap_or("");
        if authority.is_empty() {
            return Err(format!("{:?} has no host", self.endpoint));
        }
        let has_path = rest.len() > authority.len();
        Ok(match self.protocol {
            OtlpProtocol::HttpProtobuf if !has_path => format!("{with_scheme}/v1/metrics"),
            _ => with_scheme,
        })
    }

    /// `headers` then `headers_list` (which wins on a repeated name, as in the SDK).
    pub fn all_headers(&self) -> Result<Vec<(String, String)>, String> {
        let mut all: Vec<(String, String)> = self.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect();
        for pair in self.headers_list.iter().flat_map(|l| l.split(',')) {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not name=value"))?;
            all.retain(|(n, _)| n != name.trim());
            all.push((name.trim().to_string(), value.trim().to_string()));
        }
        Ok(all)
    }
}

/// One header.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameValue {
    /// Header name.
    pub name: String,
    /// Header value.
    pub value: String,
}

/// How OTLP travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// gRPC.
    Grpc,
    /// Protobuf over HTTP POST.
    #[default]
    HttpProtobuf,
}

impl FromStr for OtlpProtocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("http/json") {
            return Err("http/json is not supported; use http/protobuf or grpc".into());
        }
        named(
            text,
            "protocol",
            &[("grpc", Self::Grpc), ("http/protobuf", Self::HttpProtobuf)],
            &[],
        )
    }
}

impl fmt::Display for OtlpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        })
    }
}

/// Request body compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PushCompression {
    /// Uncompressed.
    #[default]
    None,
    /// gzip.
    Gzip,
}

impl FromStr for PushCompression {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        named(
            text,
            "compression",
            &[("none", Self::None), ("gzip", Self::Gzip)],
            &[("", Self::None)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A whole config with `telemetry` (indented under `service.telemetry`).
    fn load(telemetry: &str) -> Result<Config, Vec<ConfigError>> {
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:4317\n\
             exporters:\n  debug:\n\
             service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n  \
             telemetry:\n{telemetry}"
        );
        Config::from_yaml(&yaml).map_err(|e| e.0)
    }

    fn errors(telemetry: &str) -> Vec<(String, String)> {
        match load(telemetry) {
            Ok(_) => panic!("accepted:\n{telemetry}"),
            Err(errors) => errors.into_iter().map(|e| (e.path, e.message)).collect(),
        }
    }

    #[test]
    fn levels_ignore_case() {
        for (written, level) in [
            ("INFO", LogLevel::Info),
            ("Debug", LogLevel::Debug),
            ("WARN", LogLevel::Warn),
        ] {
            let config = load(&format!("    logs:\n      level: {written}\n")).expect("loads");
            assert_eq!(config.telemetry.logs.level, level);
        }
        let config = load("    metrics:\n      level: None\n").expect("loads");
        assert!(config.telemetry.metrics.readers_to_run().is_empty());
        let config = load("    metrics:\n      level: DETAILED\n").expect("loads");
        assert_eq!(config.telemetry.metrics.level, MetricsLevel::Detailed);
        let found = errors("    logs:\n      level: verbose\n");
        assert_eq!(found[0].0, "service.telemetry.logs.level", "{found:?}");
        assert!(found[0].1.contains("debug, info, warn, error"), "{found:?}");
    }

    #[test]
    fn the_default_is_the_legacy_reader_on_8888_and_address_replaces_it() {
        let config = load("    logs:\n      encoding: JSON\n").expect("loads");
        assert_eq!(config.telemetry.logs.encoding, LogEncoding::Json);
        let readers = config.telemetry.metrics.readers_to_run();
        let prometheus = readers[0]
            .1
            .pull
            .as_ref()
            .unwrap()
            .exporter
            .prometheus
            .as_ref()
            .unwrap();
        assert_eq!((prometheus.host.as_str(), prometheus.port), ("127.0.0.1", 8888));
        assert!(prometheus.without_type_suffix && prometheus.without_units && prometheus.without_scope_info);
        let config = load("    metrics:\n      address: \"[::1]:9999\"\n").expect("loads");
        let readers = config.telemetry.metrics.readers_to_run();
        assert_eq!(readers[0].0, "service.telemetry.metrics.address");
        let prometheus = readers[0]
            .1
            .pull
            .as_ref()
            .unwrap()
            .exporter
            .prometheus
            .as_ref()
            .unwrap();
        assert_eq!((prometheus.host.as_str(), prometheus.port), ("::1", 9999));
    }

    #[test]
    fn readers_parse_in_the_collectors_shape() {
        let config = load(
            "    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 0.0.0.0
                port: 8888
        - periodic:
            interval: 5000
            exporter:
              otlp:
                protocol: grpc
                endpoint: collector:4317
                insecure: true
                headers_list: a=1, b = 2
    resource:
      k8s.pod.name: p
      replicas: 3
      service.instance.id: null
",
        )
        .expect("loads");
        let readers = config.telemetry.metrics.readers_to_run();
        assert_eq!(readers.len(), 2);
        assert_eq!(readers[1].0, "service.telemetry.metrics.readers.1");
        let periodic = readers[1].1.periodic.as_ref().unwrap();
        assert_eq!(periodic.interval, Duration::from_secs(5));
        assert_eq!(periodic.timeout, Duration::from_secs(30));
        let otlp = periodic.exporter.otlp.as_ref().unwrap();
        assert_eq!(otlp.url().unwrap(), "http://collector:4317");
        assert_eq!(
            otlp.all_headers().unwrap(),
            vec![("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string())]
        );
        let resource = &config.telemetry.resource;
        assert_eq!(resource["replicas"], Some(AttributeText("3".into())));
        assert_eq!(resource["service.instance.id"], None);
    }

    #[test]
    fn http_endpoints_get_the_metrics_path_when_they_have_none() {
        let push = |endpoint: &str| OtlpPush {
            protocol: OtlpProtocol::HttpProtobuf,
            endpoint: endpoint.into(),
            headers: Vec::new(),
            headers_list: None,
            compression: PushCompression::None,
            timeout: Duration::from_secs(1),
            insecure: false,
            temporality_preference: None,
            default_histogram_aggregation: None,
            certificate: None,
            client_key: None,
            client_certificate: None,
        };
        assert_eq!(push("http://c:4318").url().unwrap(), "http://c:4318/v1/metrics");
        assert_eq!(
            push("https://c/otlp/v1/metrics").url().unwrap(),
            "https://c/otlp/v1/metrics"
        );
        assert!(push("ftp://c").url().is_err());
    }

    #[test]
    fn what_sloop_cannot_honour_is_refused_with_its_path() {
        // http/json fails while parsing, which stops that block's other checks.
        let found = errors(
            "    metrics:
      readers:
        - periodic: {exporter: {otlp: {protocol: http/json, endpoint: http://c:4318}}}
",
        );
        assert_eq!(
            found[0].0, "service.telemetry.metrics.readers.0.periodic.exporter.otlp.protocol",
            "{found:?}"
        );
        assert!(found[0].1.contains("use http/protobuf or grpc"), "{found:?}");
        let found = errors(
            "    metrics:
      address: 127.0.0.1:8888
      views: [{selector: {instrument_name: x}}]
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: 1}}}
          periodic: {exporter: {otlp: {endpoint: http://c:4318}}}
        - periodic:
            exporter:
              otlp:
                endpoint: http://c:4318
                temporality_preference: delta
                certificate: /ca.pem
    logs:
      initial_fields: {service: x}
      output_paths: [\"http://x\"]
    traces:
      processors: [{batch: {}}]
",
        );
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        for expected in [
            "service.telemetry.metrics.address",
            "service.telemetry.metrics.views",
            "service.telemetry.metrics.readers.0",
            "service.telemetry.metrics.readers.1.periodic.exporter.otlp.temporality_preference",
            "service.telemetry.metrics.readers.1.periodic.exporter.otlp.certificate",
            "service.telemetry.logs.initial_fields",
            "service.telemetry.logs.output_paths.0",
            "service.telemetry.traces",
        ] {
            assert!(paths.contains(&expected), "{expected} missing from {found:?}");
        }
        let both = &found
            .iter()
            .find(|(p, _)| p == "service.telemetry.metrics.address")
            .unwrap()
            .1;
        assert!(both.contains("not both"), "{both}");
    }
}
