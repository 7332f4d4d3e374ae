//! `slo` processor config.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::alertmanager::AlertmanagerConfig;
use crate::confmap::{deserialize_duration, ConfigError, Validate};

/// `processors.slo`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// The objectives to keep.
    pub objectives: Vec<ObjectiveConfig>,
    /// How often budget metrics are emitted (default 15s).
    #[serde(default = "default_interval", deserialize_with = "deserialize_duration")]
    pub interval: Duration,
    /// Send the metrics into this metrics pipeline instead of the exporters of the
    /// pipeline the processor runs in.
    #[serde(default)]
    pub metrics_pipeline: Option<String>,
    /// Directory for the on-disk state; without it, state lives in memory only.
    #[serde(default)]
    pub storage: Option<PathBuf>,
    /// How often state is written to `storage` (default 5s): the most a crash loses.
    #[serde(default = "default_checkpoint_interval", deserialize_with = "deserialize_duration")]
    pub checkpoint_interval: Duration,
    /// Events stamped further in the future than this are not counted (default 5m),
    /// but counted in `otelcol_processor_slo_future_events`. Exact: compared with
    /// each event's time in nanoseconds, not rounded to the minute.
    #[serde(default = "default_max_clock_skew", deserialize_with = "deserialize_duration")]
    pub max_clock_skew: Duration,
    /// Count `sli.<name>` verdicts that arrived with the data, for SLIs that no sli
    /// processor before this one in the pipeline defines (default false: every
    /// objective's SLI must be classified here). For a gateway that counts what an
    /// agent tier classified; only where every client that can reach the gateway is
    /// trusted to send verdicts.
    #[serde(default)]
    pub trust_upstream_verdicts: bool,
    /// Let a `SampleRate` attribute (keep 1 in N) weigh an event N times (default
    /// true). A W3C `ot=th:` threshold is always honoured.
    #[serde(default = "yes")]
    pub trust_sample_rate: bool,
    /// The most one event counts for, whatever its weight says (default 1000: one
    /// kept in a thousand). Heavier events count this many, and are counted in
    /// `otelcol_processor_slo_capped_weights`.
    #[serde(default = "default_max_event_weight")]
    pub max_event_weight: f64,
    /// Send page and ticket alerts to this Alertmanager (see
    /// [`alertmanager`](super::alertmanager)); without it, none are sent.
    #[serde(default)]
    pub alertmanager: Option<AlertmanagerConfig>,
    /// Where a trace id links to on the status page: a URL template with
    /// `{trace_id}` (hex), e.g. `http://localhost:16686/trace/{trace_id}` (Jaeger).
    /// Without it, trace ids are shown as plain text.
    #[serde(default)]
    pub trace_url: Option<String>,
}

/// The placeholder of `trace_url`.
pub const TRACE_ID_PLACEHOLDER: &str = "{trace_id}";

/// `trace_url` with `trace_id` (hex) in place of every `{trace_id}`.
pub fn trace_link(template: &str, trace_id: &str) -> String {
    template.replace(TRACE_ID_PLACEHOLDER, trace_id)
}

/// Why `template` is not a usable `trace_url`, if it is not: it must contain
/// `{trace_id}` and be an absolute http(s) URL once a trace id is filled in.
fn trace_url_error(template: &str) -> Option<String> {
    let example = "e.g. http://localhost:16686/trace/{trace_id}";
    if !template.contains(TRACE_ID_PLACEHOLDER) {
        return Some(format!(
            "must contain {TRACE_ID_PLACEHOLDER} ({example}), found {template:?}"
        ));
    }
    let sample = trace_link(template, "4bf92f3577b34da6a3ce929d0e0e4736");
    match reqwest::Url::parse(&sample) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => None,
        Ok(url) => Some(format!(
            "must be an http or https URL with a host ({example}), found scheme {:?} in {template:?}",
            url.scheme()
        )),
        Err(error) => Some(format!(
            "must be an absolute http or https URL ({example}): {error} in {template:?}"
        )),
    }
}

fn yes() -> bool {
    true
}
fn default_max_event_weight() -> f64 {
    1000.0
}

fn default_interval() -> Duration {
    Duration::from_secs(15)
}
fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_max_clock_skew() -> Duration {
    Duration::from_secs(300)
}

/// One service level objective.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveConfig {
    /// Unique name; also the key of its stored state.
    pub name: String,
    /// The SLI (from an `sli` processor earlier in the pipeline) whose `sli.<name>`
    /// attribute classifies events.
    pub sli: String,
    /// The fraction of good events promised, e.g. 0.999.
    pub target: f64,
    /// Rolling window (default 30d). Mutually exclusive with `calendar`.
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    pub window: Option<Duration>,
    /// A calendar window instead: the current month or ISO week (UTC).
    #[serde(default)]
    pub calendar: Option<Calendar>,
    /// Attribute keys (span/log attributes first, then resource attributes) that
    /// split the objective into per-group objectives, e.g. `[customer.segment]`.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Most groups kept; events of further groups count in the group `other`
    /// (default 50). Each group costs about 0.7 MiB for a 30-day window. A group
    /// with no event for the whole window gives its slot back; an overflowed group
    /// that would page takes the slot of the group that spent least (README,
    /// "Segments").
    #[serde(default = "default_max_groups")]
    pub max_groups: usize,
    /// Multiwindow, multi-burn-rate alerting.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub alerting: AlertingConfig,
    /// "Why is it burning": the attribute values over-represented among bad events
    /// (see [`explain`](super::explain)).
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub explain: ExplainConfig,
}

/// `explain`: which attribute values to track for "why is it burning".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainConfig {
    /// Attribute keys whose values are tracked, looked up like `group_by` (span or
    /// log attributes, then resource attributes). Default: [`DEFAULT_EXPLAIN_ATTRIBUTES`].
    /// `[]` turns explaining off.
    #[serde(default = "default_explain_attributes")]
    pub attributes: Vec<String>,
    /// Values tracked per key and time bucket (default 64); counts are exact while
    /// a key has no more distinct values than this in a bucket.
    #[serde(default = "default_explain_max_values")]
    pub max_values: usize,
}

/// The keys `explain` tracks by default: OpenTelemetry semantic-convention resource
/// and span attributes that tend to tell failures apart (what was deployed, where,
/// and which requests).
pub const DEFAULT_EXPLAIN_ATTRIBUTES: [&str; 10] = [
    "service.version",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.namespace.name",
    "host.name",
    "http.route",
    "http.request.method",
    "http.response.status_code",
    "server.address",
];

/// The most `explain.max_values`: eviction scans a key's values.
pub const MAX_EXPLAIN_VALUES: usize = 1000;

/// The most `explain.attributes`: each costs a lookup per event.
pub const MAX_EXPLAIN_ATTRIBUTES: usize = 32;

fn default_explain_attributes() -> Vec<String> {
    DEFAULT_EXPLAIN_ATTRIBUTES.iter().map(|k| (*k).to_owned()).collect()
}

fn default_explain_max_values() -> usize {
    64
}

impl Default for ExplainConfig {
    fn default() -> Self {
        Self {
            attributes: default_explain_attributes(),
            max_values: default_explain_max_values(),
        }
    }
}

impl Validate for ExplainConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.max_values == 0 || self.max_values > MAX_EXPLAIN_VALUES {
            errors.push(ConfigError::new(
                "max_values",
                format!("must be between 1 and {MAX_EXPLAIN_VALUES}, found {}", self.max_values),
            ));
        }
        if self.attributes.len() > MAX_EXPLAIN_ATTRIBUTES {
            errors.push(ConfigError::new(
                "attributes",
                format!("at most {MAX_EXPLAIN_ATTRIBUTES} keys, found {}", self.attributes.len()),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, key) in self.attributes.iter().enumerate() {
            if key.is_empty() {
                errors.push(ConfigError::new(format!("attributes[{i}]"), "must not be empty"));
            } else if !seen.insert(key.as_str()) {
                errors.push(ConfigError::new(
                    format!("attributes[{i}]"),
                    format!("duplicate attribute key {key:?}"),
                ));
            }
        }
        errors
    }
}

fn default_max_groups() -> usize {
    50
}

fn deserialize_optional_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    deserialize_duration(deserializer).map(Some)
}

/// Calendar windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Calendar {
    /// Since the first day of the current month, 00:00 UTC.
    Month,
    /// Since Monday 00:00 UTC.
    Week,
}

/// `alerting`: the SRE Workbook's multiwindow, multi-burn-rate alerts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Page-severity rules (default: 1h & 5m above 14.4, 6h & 30m above 6).
    #[serde(default = "default_page")]
    pub page: Vec<BurnRateRule>,
    /// Ticket-severity rules (default: 1d & 2h above 3, 3d & 6h above 1).
    #[serde(default = "default_ticket")]
    pub ticket: Vec<BurnRateRule>,
    /// A rule fires only when its long window holds at least this many events
    /// (default 10), so a single bad request at 3 a.m. pages no one.
    #[serde(default = "default_min_events")]
    pub min_events: f64,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            page: default_page(),
            ticket: default_ticket(),
            min_events: default_min_events(),
        }
    }
}

fn default_min_events() -> f64 {
    10.0
}

fn rule(long_hours: f64, short_minutes: u64, burn_rate: f64) -> BurnRateRule {
    BurnRateRule {
        long: Duration::from_secs_f64(long_hours * 3600.0),
        short: Duration::from_secs(short_minutes * 60),
        burn_rate,
    }
}

fn default_page() -> Vec<BurnRateRule> {
    vec![rule(1.0, 5, 14.4), rule(6.0, 30, 6.0)]
}

fn default_ticket() -> Vec<BurnRateRule> {
    vec![rule(24.0, 120, 3.0), rule(72.0, 360, 1.0)]
}

/// Fires when the burn rate over both windows exceeds `burn_rate`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BurnRateRule {
    /// The long window (how much budget has burned).
    #[serde(deserialize_with = "deserialize_duration")]
    pub long: Duration,
    /// The short window (is it still burning?), typically long / 12.
    #[serde(deserialize_with = "deserialize_duration")]
    pub short: Duration,
    /// Burn-rate threshold.
    pub burn_rate: f64,
}

/// The default rolling window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 86400);

impl ObjectiveConfig {
    /// The number of one-minute slices the ring must hold.
    pub fn ring_minutes(&self) -> usize {
        match self.calendar {
            Some(Calendar::Month) => 31 * 1440,
            Some(Calendar::Week) => 7 * 1440,
            None => (self.window.unwrap_or(DEFAULT_WINDOW).as_secs() / 60) as usize,
        }
    }

    /// What the counts kept for this objective depend on. Kept counts (across a
    /// reload, and across a restart through `storage`) are used only when this is
    /// unchanged; otherwise counting starts afresh:
    /// - `sli`: the counts are of another classification;
    /// - the window (`window`, or `calendar`; an absent window and `window: 30d`
    ///   are the same): the ring has another length, and the budget of one window
    ///   is not that of another.
    ///
    /// `target` and `alerting` are not in it: they are applied to the counts when
    /// figures are derived, so a new target or alert rule takes effect on the
    /// counts kept so far. Nor is the grouping: the objective's own counts do not
    /// depend on it (see [`groups_fingerprint`](Self::groups_fingerprint)). Nor are
    /// the processor-wide settings (`interval`, `checkpoint_interval`,
    /// `max_clock_skew`, `metrics_pipeline`, `storage`): they change when and where
    /// counts go, not what was counted.
    pub fn counts_fingerprint(&self) -> String {
        let window = match self.calendar {
            Some(Calendar::Month) => "calendar month".to_string(),
            Some(Calendar::Week) => "calendar week".to_string(),
            None => format!("{}s", self.window.unwrap_or(DEFAULT_WINDOW).as_secs()),
        };
        // Debug formatting quotes and escapes the name, so no two configs share a
        // fingerprint.
        format!("sli={:?} window={window}", self.sli)
    }

    /// What the per-group counts depend on besides [`counts_fingerprint`](Self::counts_fingerprint):
    /// `group_by` (which attributes split them) and `max_groups` (which events
    /// counted in `other`). When it changes, the groups start afresh and the
    /// objective's own counts are kept.
    pub fn groups_fingerprint(&self) -> String {
        format!("group_by={:?} max_groups={}", self.group_by, self.max_groups)
    }
}

impl Validate for SloConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.objectives.is_empty() {
            errors.push(ConfigError::new("objectives", "at least one objective is required"));
        }
        if self.interval < Duration::from_secs(1) {
            errors.push(ConfigError::new("interval", "must be at least 1s"));
        }
        if self.checkpoint_interval < Duration::from_millis(100) {
            errors.push(ConfigError::new("checkpoint_interval", "must be at least 100ms"));
        }
        if !(self.max_event_weight >= 1.0 && self.max_event_weight.is_finite()) {
            errors.push(ConfigError::new(
                "max_event_weight",
                format!("must be a number of at least 1, found {}", self.max_event_weight),
            ));
        }
        if let Some(message) = self.trace_url.as_deref().and_then(trace_url_error) {
            errors.push(ConfigError::new("trace_url", message));
        }
        if let Some(alertmanager) = &self.alertmanager {
            errors.extend(alertmanager.validate().into_iter().map(|e| e.under("alertmanager")));
        }
        let mut names = BTreeSet::new();
        for (i, objective) in self.objectives.iter().enumerate() {
            let path = format!("objectives[{i}]");
            if !names.insert(objective.name.as_str()) {
                errors.push(ConfigError::new(
                    format!("{path}.name"),
                    format!("duplicate objective name {:?}", objective.name),
                ));
            }
            errors.extend(objective.validate().into_iter().map(|e| e.under(&path)));
        }
        errors
    }
}

impl Validate for ObjectiveConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.name.is_empty() || self.name.contains('|') {
            errors.push(ConfigError::new("name", "must be non-empty and must not contain '|'"));
        }
        if self.sli.is_empty() {
            errors.push(ConfigError::new("sli", "must name an SLI"));
        }
        if self.target.is_nan() || self.target <= 0.0 || self.target >= 1.0 {
            errors.push(ConfigError::new(
                "target",
                format!("must be between 0 and 1 exclusive (e.g. 0.999), found {}", self.target),
            ));
        }
        if self.window.is_some() && self.calendar.is_some() {
            errors.push(ConfigError::new("calendar", "set either window or calendar, not both"));
        }
        if let Some(window) = self.window {
            if window < Duration::from_secs(3600) || window.as_secs() % 60 != 0 {
                errors.push(ConfigError::new(
                    "window",
                    "must be a whole number of minutes, at least 1h",
                ));
            }
            if window > Duration::from_secs(400 * 86400) {
                errors.push(ConfigError::new("window", "must be at most 400d"));
            }
        }
        if self.max_groups == 0 {
            errors.push(ConfigError::new("max_groups", "must be greater than 0"));
        }
        let span = Duration::from_secs(self.ring_minutes() as u64 * 60);
        for (severity, rules) in [("page", &self.alerting.page), ("ticket", &self.alerting.ticket)] {
            for (i, rule) in rules.iter().enumerate() {
                let path = format!("alerting.{severity}[{i}]");
                if rule.short >= rule.long {
                    errors.push(ConfigError::new(format!("{path}.short"), "must be shorter than long"));
                }
                if rule.short < Duration::from_secs(60)
                    || rule.short.as_secs() % 60 != 0
                    || rule.long.as_secs() % 60 != 0
                {
                    errors.push(ConfigError::new(
                        path.clone(),
                        "windows must be whole minutes, at least 1m",
                    ));
                }
                if rule.long > span {
                    errors.push(ConfigError::new(
                        format!("{path}.long"),
                        "must not be longer than the SLO window",
                    ));
                }
                if rule.burn_rate.is_nan() || rule.burn_rate <= 0.0 {
                    errors.push(ConfigError::new(format!("{path}.burn_rate"), "must be greater than 0"));
                }
            }
        }
        if self.alerting.min_events < 0.0 {
            errors.push(ConfigError::new("alerting.min_events", "must not be negative"));
        }
        errors.extend(self.explain.validate().into_iter().map(|e| e.under("explain")));
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_url_must_hold_the_trace_id_and_be_an_http_url() {
        assert_eq!(trace_url_error("http://localhost:16686/trace/{trace_id}"), None);
        assert_eq!(
            trace_url_error("https://tempo.example/explore?trace={trace_id}&x=1"),
            None
        );
        let missing = trace_url_error("http://localhost:16686/trace/").unwrap();
        assert!(missing.contains("must contain {trace_id}"), "{missing}");
        let relative = trace_url_error("/trace/{trace_id}").unwrap();
        assert!(relative.contains("absolute"), "{relative}");
        let scheme = trace_url_error("javascript:alert({trace_id})").unwrap();
        assert!(scheme.contains("\"javascript\""), "{scheme}");
        assert_eq!(
            trace_link("http://j/trace/{trace_id}?again={trace_id}", "ab"),
            "http://j/trace/ab?again=ab"
        );
    }
}
