//! Paging through Alertmanager: the page and ticket alerts of every objective, and of
//! every group of it (`group_by`), go to Alertmanager's v2 API
//! (`POST {endpoint}/api/v2/alerts`), so a single sloop pages without a Prometheus in
//! between.
//!
//! ```yaml
//! processors:
//!   slo:
//!     objectives:
//!       - {name: checkout-availability, sli: checkout, target: 0.999}
//!     alertmanager:
//!       endpoint: http://127.0.0.1:9093   # required; /api/v2/alerts is appended
//!       timeout: 10s                      # default: per request
//!       resend_interval: 1m               # default: how often firing alerts are sent again
//!       headers: {}                       # optional: sent with every request
//!       labels: {team: shop}              # optional: added to every alert, for routing
//!       external_url: https://sloop.example.com   # optional: each alert's generatorURL
//! ```
//!
//! Every `interval` the processor assesses its objectives as the status API does and
//! sends one alert per firing rule and series (the objective, or one group of it):
//!
//! - labels: `alertname` = `SLOErrorBudgetBurn`, `slo`, `sli`, `severity` (`page` or
//!   `ticket`), `windows` (the rule's long and short window, `1h/5m`), `segment` (the
//!   group as `key=value,...`; absent for the objective as a whole), and `labels`;
//! - annotations: `summary`, `description`, `error_budget_remaining` (`62.5%`),
//!   `time_to_exhaustion` (while bad events came in the last hour), `burn_rate_long`
//!   and `burn_rate_short`;
//! - `startsAt` when sloop first saw the rule fire, `endsAt` four resends ahead
//!   (`4 × max(resend_interval, interval)`), as Prometheus does: if sloop goes away,
//!   Alertmanager resolves the alert on its own after that.
//!
//! An alert that starts or stops firing is sent at the next `interval` tick; one that
//! keeps firing is sent again every `resend_interval` (default 1m, Prometheus's
//! `--rules.alert.resend-delay`). That is a separate setting from `interval` so that a
//! short `interval` (fresh metrics) does not multiply the requests to Alertmanager. An
//! alert that stops firing is sent once more with `endsAt` = the time it stopped,
//! which resolves it.
//!
//! **When Alertmanager cannot be reached** (refused, timed out, any status but 2xx),
//! the failure is counted in `otelcol_processor_slo_alertmanager_send_failures` and
//! logged at most once per 10 seconds, and everything not yet delivered is sent again
//! at the next tick. Sending runs on its own task: counting events never waits for it.
//! A resolve that could not be delivered is given up once the `endsAt` Alertmanager
//! last received has passed, since Alertmanager has resolved the alert by then.
//!
//! **Reload and restart.** What is firing lives in the service's state store under
//! `processors/<id>/alertmanager`, so a reload keeps it: the new instance takes over
//! sending, alerts that still fire keep their `startsAt`, and alerts of objectives the
//! reload removed, or whose labels it changed, are resolved. A changed `endpoint`
//! starts afresh, and a reload that removes `alertmanager` sends nothing more: the
//! alerts left behind resolve when their `endsAt` passes. At shutdown, alerts still firing are *not* resolved: a restart must not
//! resolve and re-open pages. A restarted sloop does not remember what it sent; it
//! sends what fires at its first tick, which Alertmanager merges with the alerts it
//! holds (same labels), and an alert that stopped firing while sloop was down is
//! resolved by Alertmanager when its `endsAt` passes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::budget::{window_label, Assessment};
use super::config::BurnRateRule;
use super::ring::Minute;
use super::state::ObjectiveHandle;
use crate::component::{BuildError, ComponentId, StateStore};
use crate::confmap::{deserialize_duration, ConfigError, Validate};
use crate::connectors::DropLog;
use crate::tls::ClientTls;

/// The `alertname` of every alert sloop sends.
pub const ALERT_NAME: &str = "SLOErrorBudgetBurn";

/// Labels sloop sets itself; `labels` may not set them.
const RESERVED_LABELS: &[&str] = &["alertname", "slo", "sli", "severity", "windows", "segment"];

/// The most of an error response's body kept for the log line.
const ERROR_BODY_LIMIT: usize = 1024;

/// `processors.slo.alertmanager`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL (`http://alertmanager:9093`); `/api/v2/alerts` is
    /// appended.
    pub endpoint: String,
    /// Deadline of one request (default 10s, as Prometheus's notifier).
    #[serde(default = "default_timeout", deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// How often alerts that keep firing are sent again (default 1m).
    #[serde(default = "default_resend_interval", deserialize_with = "deserialize_duration")]
    pub resend_interval: Duration,
    /// Headers sent with every request (an API key of a hosted Alertmanager).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Labels added to every alert, for Alertmanager's routing (`team: shop`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Where sloop's admin address is reachable from the people paged: each alert's
    /// `generatorURL` is `{external_url}/slos/{name}`, the SLO's status page. Without it, alerts
    /// carry no `generatorURL`.
    #[serde(default)]
    pub external_url: Option<String>,
    /// TLS settings for an `https://` endpoint.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub tls: ClientTls,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_resend_interval() -> Duration {
    Duration::from_secs(60)
}

/// `url` parsed, if it is an absolute http or https URL.
fn http_url(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not an http:// or https:// URL: {e}"))?;
    match parsed.scheme() {
        "http" | "https" if parsed.has_host() => Ok(parsed),
        _ => Err(format!("{url:?} must be an http:// or https:// URL with a host")),
    }
}

/// Whether `name` is a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`), which
/// Alertmanager requires.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Validate for AlertmanagerConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Err(e) = http_url(&self.endpoint) {
            errors.push(ConfigError::new("endpoint", e));
        }
        if let Some(url) = &self.external_url {
            if let Err(e) = http_url(url) {
                errors.push(ConfigError::new("external_url", e));
            }
        }
        if self.timeout.is_zero() {
            errors.push(ConfigError::new("timeout", "must be greater than 0"));
        }
        if self.resend_interval < Duration::from_secs(1) {
            errors.push(ConfigError::new("resend_interval", "must be at least 1s"));
        }
        for (name, value) in &self.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                errors.push(ConfigError::new(
                    format!("headers.{name}"),
                    format!("{name:?} is not a valid header name"),
                ));
            } else if reqwest::header::HeaderValue::from_str(value).is_err() {
                errors.push(ConfigError::new(
                    format!("headers.{name}"),
                    "is not a valid header value (visible ASCII only)",
                ));
            }
        }
        for name in self.labels.keys() {
            if RESERVED_LABELS.contains(&name.as_str()) {
                errors.push(ConfigError::new(
                    format!("labels.{name}"),
                    format!(
                        "is set by sloop on every alert (reserved: {})",
                        RESERVED_LABELS.join(", ")
                    ),
                ));
            } else if !is_label_name(name) {
                errors.push(ConfigError::new(
                    format!("labels.{name}"),
                    "is not a label name: letters, digits and _, not starting with a digit",
                ));
            }
        }
        errors.extend(self.tls.validate().into_iter().map(|e| e.under("tls")));
        errors
    }
}

/// An alert as Alertmanager's v2 API takes it (`postableAlert`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    /// What the alert is: its identity in Alertmanager.
    pub labels: BTreeMap<String, String>,
    /// What it says.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339: ahead while firing; when it stopped, to resolve it.
    pub ends_at: String,
    /// A link back to the objective's status.
    #[serde(rename = "generatorURL", default, skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}

/// An alert's labels: its identity.
pub type Labels = BTreeMap<String, String>;

/// One rule firing for one series now.
#[derive(Debug, Clone, PartialEq)]
pub struct FiringAlert {
    /// Its labels.
    pub labels: Labels,
    /// Its annotations, from the figures of now.
    pub annotations: BTreeMap<String, String>,
    /// Its `generatorURL`.
    pub generator_url: Option<String>,
}

/// A group as the `segment` label writes it: `key=value,...` in `group_by` order.
pub fn segment_label(group_by: &[String], values: &[String]) -> String {
    group_by
        .iter()
        .zip(values)
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// How the annotations write a time to exhaustion: whole minutes, `humantime`'s way.
fn exhaustion_text(seconds: f64) -> String {
    if seconds <= 0.0 {
        return "now (the error budget is spent)".into();
    }
    let minutes = (seconds / 60.0).round().max(1.0);
    // At most a century: a rate this slow is not worth more digits (and the cast
    // below stays in range).
    humantime::format_duration(Duration::from_secs((minutes.min(52_560_000.0) as u64) * 60)).to_string()
}

/// What the alerts of one objective say: everything but the per-alert figures.
struct AlertContext<'a> {
    handle: &'a ObjectiveHandle,
    extra_labels: &'a Labels,
    generator_url: Option<String>,
}

impl AlertContext<'_> {
    fn alert(&self, segment: Option<&str>, severity: &str, rule: &BurnRateRule, a: &Assessment) -> FiringAlert {
        let config = &self.handle.config;
        let windows = format!("{}/{}", window_label(rule.long), window_label(rule.short));
        let mut labels = self.extra_labels.clone();
        labels.insert("alertname".into(), ALERT_NAME.into());
        labels.insert("slo".into(), config.name.clone());
        labels.insert("sli".into(), config.sli.clone());
        labels.insert("severity".into(), severity.into());
        labels.insert("windows".into(), windows.clone());
        if let Some(segment) = segment.filter(|s| !s.is_empty()) {
            labels.insert("segment".into(), segment.into());
        }
        let (long, _) = a.burn_over(rule.long);
        let (short, _) = a.burn_over(rule.short);
        let what = match segment {
            Some(segment) => format!("SLO {} for {segment}", config.name),
            None => format!("SLO {}", config.name),
        };
        let left = format!("{:.1}%", a.error_budget_remaining * 100.0);
        let mut description = format!(
            "The error budget burns {long:.1}x as fast as the target allows over {} and {short:.1}x over {} \
             (threshold {}x, {severity}). {left} of the error budget is left",
            window_label(rule.long),
            window_label(rule.short),
            rule.burn_rate,
        );
        let mut annotations = BTreeMap::from([
            ("error_budget_remaining".to_string(), left),
            ("burn_rate_long".to_string(), format!("{long:.2}")),
            ("burn_rate_short".to_string(), format!("{short:.2}")),
        ]);
        if let Some(seconds) = a.exhaustion_seconds {
            let text = exhaustion_text(seconds);
            description.push_str(&format!("; at the last hour's rate it is exhausted in {text}"));
            annotations.insert("time_to_exhaustion".into(), text);
        }
        description.push('.');
        annotations.insert(
            "summary".into(),
            format!("{what} is burning its error budget too fast ({severity}, {windows})."),
        );
        annotations.insert("description".into(), description);
        FiringAlert {
            labels,
            annotations,
            generator_url: self.generator_url.clone(),
        }
    }

    /// The alerts of every rule that fires, for the objective and each of its groups.
    fn firing(&self, now: Minute) -> Vec<FiringAlert> {
        let config = &self.handle.config;
        let (overall, groups) = self.handle.assess(now);
        let series = std::iter::once((None, overall)).chain(
            groups
                .into_iter()
                .map(|(values, a)| (Some(segment_label(&config.group_by, &values)), a)),
        );
        let mut out = Vec::new();
        for (segment, a) in series {
            for (severity, rules) in [("page", &config.alerting.page), ("ticket", &config.alerting.ticket)] {
                for rule in rules.iter().filter(|r| a.fires(r, config.alerting.min_events)) {
                    out.push(self.alert(segment.as_deref(), severity, rule, &a));
                }
            }
        }
        out
    }
}

/// The alerts firing for `handles` at minute `now`, with `extra_labels` and links
/// under `external_url`.
pub fn firing_alerts(
    handles: &[Arc<ObjectiveHandle>],
    now: Minute,
    extra_labels: &Labels,
    external_url: Option<&reqwest::Url>,
) -> Vec<FiringAlert> {
    let mut out = Vec::new();
    for handle in handles {
        let generator_url = external_url.map(|base| {
            let mut url = base.clone();
            if let Ok(mut segments) = url.path_segments_mut() {
                segments.pop_if_empty().extend(["slos", &handle.config.name]);
            }
            url.to_string()
        });
        let context = AlertContext {
            handle,
            extra_labels,
            generator_url,
        };
        out.extend(context.firing(now));
    }
    out
}

/// What sloop last told Alertmanager about one alert.
#[derive(Debug, Clone)]
struct TrackedAlert {
    starts_at: SystemTime,
    annotations: BTreeMap<String, String>,
    generator_url: Option<String>,
    /// When it stopped firing; `None` while it fires.
    resolved_at: Option<SystemTime>,
    /// The `endsAt` of the last firing notice Alertmanager took; `None` if it took
    /// none.
    told_until: Option<SystemTime>,
    /// Changed (started, stopped) since Alertmanager last took it.
    unsent: bool,
}

/// Every alert sloop has sent and not yet resolved, or must still resolve.
#[derive(Debug, Default)]
pub struct AlertBook {
    alerts: BTreeMap<Labels, TrackedAlert>,
    /// When Alertmanager last took a batch.
    last_delivery: Option<SystemTime>,
}

/// RFC 3339 with milliseconds, as Alertmanager writes times.
fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

impl AlertBook {
    /// Takes in what fires at `now`: new alerts start, alerts no longer firing are
    /// resolved. Returns the batch to send now (empty when nothing is due): every
    /// firing alert with `endsAt` = `now + hold`, and every alert to resolve, when
    /// something changed, something is undelivered, or `resend` has passed since
    /// the last delivery.
    pub fn plan(
        &mut self,
        firing: Vec<FiringAlert>,
        now: SystemTime,
        resend: Duration,
        hold: Duration,
    ) -> Vec<PostableAlert> {
        let mut still = BTreeMap::new();
        for alert in firing {
            let tracked = match self.alerts.remove(&alert.labels) {
                Some(mut tracked) if tracked.resolved_at.is_none() => {
                    tracked.annotations = alert.annotations;
                    tracked.generator_url = alert.generator_url;
                    tracked
                }
                // New, or firing again after it stopped: a new alert as far as
                // Alertmanager can tell once the resolve went out.
                previous => TrackedAlert {
                    starts_at: now,
                    annotations: alert.annotations,
                    generator_url: alert.generator_url,
                    resolved_at: None,
                    told_until: previous.and_then(|p| p.told_until),
                    unsent: true,
                },
            };
            still.insert(alert.labels, tracked);
        }
        for (labels, mut tracked) in std::mem::take(&mut self.alerts) {
            if tracked.resolved_at.is_none() {
                tracked.resolved_at = Some(now);
                tracked.unsent = true;
            }
            // Alertmanager never heard of it, or has resolved it on its own: there
            // is nothing left to resolve.
            if tracked.told_until.is_none_or(|until| until <= now) {
                continue;
            }
            still.insert(labels, tracked);
        }
        self.alerts = still;
        let due = self.alerts.values().any(|a| a.unsent)
            || self
                .last_delivery
                .is_none_or(|at| now.duration_since(at).unwrap_or_default() >= resend);
        if !due {
            return Vec::new();
        }
        self.alerts
            .iter()
            .map(|(labels, a)| PostableAlert {
                labels: labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: rfc3339(a.starts_at),
                ends_at: rfc3339(a.resolved_at.unwrap_or(now + hold)),
                generator_url: a.generator_url.clone(),
            })
            .collect()
    }

    /// Alertmanager took the batch [`plan`](Self::plan) made at `now`: firing alerts
    /// are known to it until `now + hold`, resolved ones are done.
    pub fn delivered(&mut self, now: SystemTime, hold: Duration) {
        self.alerts.retain(|_, a| a.resolved_at.is_none());
        for alert in self.alerts.values_mut() {
            alert.told_until = Some(now + hold);
            alert.unsent = false;
        }
        self.last_delivery = Some(now);
    }

    /// The labels of the alerts firing now.
    pub fn firing(&self) -> Vec<&Labels> {
        self.alerts
            .iter()
            .filter(|(_, a)| a.resolved_at.is_none())
            .map(|(labels, _)| labels)
            .collect()
    }
}

/// What is firing, kept in the service's state store so a reload keeps it, and
/// which processor instance sends it.
#[derive(Debug, Default)]
pub struct SharedAlertBook {
    /// The instance that sends (the newest started): during a reload the old one
    /// keeps running for a moment and must neither send nor resolve.
    owner: AtomicU64,
    /// Held across a request, so one batch is planned, sent and settled at a time.
    book: tokio::sync::Mutex<AlertBook>,
}

/// Tells instances apart for [`SharedAlertBook::owner`].
static INSTANCES: AtomicU64 = AtomicU64::new(1);

/// One slo processor's connection to Alertmanager.
pub struct AlertmanagerNotifier {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    labels: Labels,
    external_url: Option<reqwest::Url>,
    resend: Duration,
    /// How long past now a firing alert's `endsAt` is.
    hold: Duration,
    shared: Arc<SharedAlertBook>,
    instance: u64,
    failures: metrics::Counter,
    failure_log: DropLog,
    /// Failures since Alertmanager last took a batch, to say when it works again.
    failing: AtomicU64,
}

/// The state store key of a processor's alerts.
fn book_key(id: &ComponentId) -> String {
    format!("processors/{id}/alertmanager")
}

impl AlertmanagerNotifier {
    /// The notifier of processor `id`, evaluating every `interval`. Claims the alerts
    /// an earlier instance with the same `endpoint` left in `state`; sends nothing
    /// until [`take_over`](Self::take_over).
    pub fn new(
        config: &AlertmanagerConfig,
        interval: Duration,
        id: &ComponentId,
        state: &StateStore,
    ) -> Result<Self, BuildError> {
        let endpoint = http_url(&config.endpoint).map_err(|e| BuildError::at("alertmanager.endpoint", e))?;
        let mut url = endpoint.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(["api", "v2", "alerts"]);
        }
        let external_url = config
            .external_url
            .as_deref()
            .map(http_url)
            .transpose()
            .map_err(|e| BuildError::at("alertmanager.external_url", e))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let at = || format!("alertmanager.headers.{name}");
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| BuildError::at(at(), e))?;
            let value = reqwest::header::HeaderValue::from_str(value).map_err(|e| BuildError::at(at(), e))?;
            headers.insert(name, value);
        }
        let mut client = reqwest::Client::builder()
            .user_agent(concat!("sloop/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout);
        if endpoint.scheme() == "https" {
            let tls = config
                .tls
                .client_config(&[b"h2", b"http/1.1"])
                .map_err(|e| BuildError::at(format!("alertmanager.tls.{}", e.key), e.message))?;
            client = client.use_preconfigured_tls(tls);
        }
        let client = client.build().map_err(|e| BuildError::at("alertmanager", e))?;
        let shared = state
            .claim(&book_key(id), endpoint.as_str(), SharedAlertBook::default)
            .value;
        Ok(Self {
            client,
            url,
            headers,
            labels: config.labels.clone(),
            external_url,
            resend: config.resend_interval,
            hold: 4 * config.resend_interval.max(interval),
            shared,
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            failures: metrics::counter!(
                "otelcol_processor_slo_alertmanager_send_failures",
                "processor" => id.to_string()
            ),
            failure_log: DropLog::default(),
            failing: AtomicU64::new(0),
        })
    }

    /// From now on this instance sends the alerts, and an older one no longer does.
    pub fn take_over(&self) {
        self.shared.owner.store(self.instance, Ordering::Release);
    }

    /// Assesses `handles` and sends what is due. Does nothing unless this instance
    /// took over.
    pub async fn notify(&self, handles: &[Arc<ObjectiveHandle>]) {
        if self.shared.owner.load(Ordering::Acquire) != self.instance {
            return;
        }
        let now_nanos = super::unix_nanos();
        let firing = firing_alerts(
            handles,
            super::minute_of(now_nanos),
            &self.labels,
            self.external_url.as_ref(),
        );
        let now = SystemTime::now();
        let mut book = self.shared.book.lock().await;
        let batch = book.plan(firing, now, self.resend, self.hold);
        if batch.is_empty() {
            return;
        }
        match self.send(&batch).await {
            Ok(()) => {
                book.delivered(now, self.hold);
                let failed = self.failing.swap(0, Ordering::Relaxed);
                if failed > 0 {
                    tracing::info!(message = "Alerts reach Alertmanager again.", url = %self.url, failures = failed);
                }
            }
            Err(error) => {
                self.failures.increment(1);
                self.failing.fetch_add(1, Ordering::Relaxed);
                self.failure_log.record(1, |failures| {
                    tracing::warn!(
                        message = "Alerts could not be sent to Alertmanager; they are sent again at the next interval.",
                        url = %self.url,
                        %error,
                        failures,
                    );
                });
            }
        }
    }

    /// One POST of `batch`.
    async fn send(&self, batch: &[PostableAlert]) -> Result<(), String> {
        let body = serde_json::to_vec(batch).map_err(|e| format!("encoding the alerts: {e}"))?;
        let mut response = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // Only the start of the body: it is for the log line.
        let mut body = Vec::new();
        while body.len() < ERROR_BODY_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body.truncate(ERROR_BODY_LIMIT);
        Err(format!("{status}: {}", String::from_utf8_lossy(&body).trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::slo::config::{AlertingConfig, ObjectiveConfig};
    use crate::processors::slo::state::ObjectiveState;

    const MINUTE: Minute = 10_000_000;

    fn objective(group_by: &[&str]) -> ObjectiveConfig {
        ObjectiveConfig {
            name: "checkout availability".into(),
            sli: "checkout".into(),
            target: 0.999,
            window: None,
            calendar: None,
            group_by: group_by.iter().map(|s| s.to_string()).collect(),
            max_groups: 10,
            alerting: AlertingConfig::default(),
            explain: Default::default(),
        }
    }

    fn handle(config: ObjectiveConfig) -> Arc<ObjectiveHandle> {
        let state = ObjectiveState::new(&config, MINUTE, 0);
        ObjectiveHandle::new(config, state)
    }

    /// Adds `good` and `bad` events at minute `MINUTE` to the series of `group`
    /// (`None`: the objective's own).
    fn add(handle: &ObjectiveHandle, group: Option<(&str, Vec<String>)>, good: f64, bad: f64) {
        let mut state = handle.lock();
        let ring_minutes = handle.config.ring_minutes();
        let series = match group {
            None => &mut state.overall,
            Some((key, values)) => {
                &mut state
                    .groups
                    .entry(key.to_string())
                    .or_insert_with(|| (values, super::super::Series::new(ring_minutes, MINUTE, 0)))
                    .1
            }
        };
        series.ring.add(MINUTE, good, bad);
        // A series that counted nothing in its window is freed as idle.
        series.newest = MINUTE;
    }

    fn labels(alert: &FiringAlert) -> Vec<(&str, &str)> {
        alert.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn a_brownout_fires_both_page_rules_with_their_windows_and_the_figures() {
        let handle = handle(objective(&[]));
        // 100 bad of 1,000 in one minute: 10% errors, a burn rate of 100 over every
        // window (all hold the same minute), far above 14.4 and 6.
        add(&handle, None, 900.0, 100.0);
        let extra = Labels::from([("team".to_string(), "shop".to_string())]);
        let base = reqwest::Url::parse("https://sloop.example.com/admin/").unwrap();
        let firing = firing_alerts(std::slice::from_ref(&handle), MINUTE, &extra, Some(&base));
        let (overall, _) = handle.assess(MINUTE);
        assert!(overall.page && overall.ticket);
        // Page 1h/5m and 6h/30m, ticket 1d/2h and 3d/6h: four rules, four alerts.
        let windows: Vec<(&str, &str)> = firing
            .iter()
            .map(|a| (a.labels["severity"].as_str(), a.labels["windows"].as_str()))
            .collect();
        assert_eq!(
            windows,
            [
                ("page", "1h/5m"),
                ("page", "6h/30m"),
                ("ticket", "1d/2h"),
                ("ticket", "3d/6h")
            ]
        );
        assert_eq!(
            labels(&firing[0]),
            [
                ("alertname", ALERT_NAME),
                ("severity", "page"),
                ("sli", "checkout"),
                ("slo", "checkout availability"),
                ("team", "shop"),
                ("windows", "1h/5m"),
            ]
        );
        let annotations = &firing[0].annotations;
        // 1,000 events allow 1 bad; 100 bad: 1 - 100 = -9900%.
        assert_eq!(annotations["error_budget_remaining"], "-9900.0%");
        assert_eq!(annotations["burn_rate_long"], "100.00");
        assert_eq!(annotations["time_to_exhaustion"], "now (the error budget is spent)");
        assert!(
            annotations["summary"].contains("checkout availability"),
            "{annotations:?}"
        );
        assert!(
            annotations["description"].contains("threshold 14.4x"),
            "{annotations:?}"
        );
        assert_eq!(
            firing[0].generator_url.as_deref(),
            Some("https://sloop.example.com/admin/slos/checkout%20availability")
        );
    }

    #[test]
    fn each_rule_is_asked_as_assess_asks_some_rule() {
        // Traffic where the rules disagree: per minute counts over 6 hours, errors
        // only in the last 5 minutes, at rates around every threshold.
        for bad_per_minute in [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0] {
            let config = objective(&[]);
            let handle = handle(config.clone());
            {
                let mut state = handle.lock();
                for m in 0..360 {
                    let minute = MINUTE - 359 + m;
                    let bad = if m >= 355 { bad_per_minute } else { 0.0 };
                    state.overall.ring.advance(minute);
                    state.overall.ring.add(minute, 100.0 - bad, bad);
                }
            }
            let (a, _) = handle.assess(MINUTE);
            let fires = |rules: &[BurnRateRule]| rules.iter().any(|r| a.fires(r, config.alerting.min_events));
            assert_eq!(fires(&config.alerting.page), a.page, "{bad_per_minute} bad/min");
            assert_eq!(fires(&config.alerting.ticket), a.ticket, "{bad_per_minute} bad/min");
        }
    }

    #[test]
    fn a_failing_segment_pages_with_its_segment_label() {
        let handle = handle(objective(&["customer.segment", "region"]));
        add(&handle, None, 2000.0, 100.0);
        add(
            &handle,
            Some(("gold\u{1f}eu", vec!["gold".into(), "eu".into()])),
            0.0,
            100.0,
        );
        add(
            &handle,
            Some(("free\u{1f}us", vec!["free".into(), "us".into()])),
            2000.0,
            0.0,
        );
        let firing = firing_alerts(&[handle], MINUTE, &Labels::new(), None);
        let pages: Vec<Option<&str>> = firing
            .iter()
            .filter(|a| a.labels["severity"] == "page" && a.labels["windows"] == "1h/5m")
            .map(|a| a.labels.get("segment").map(String::as_str))
            .collect();
        // The objective (100 of 2,100 bad: 4.8%, burn 47.6) and gold/eu page; free/us
        // (no bad event) does not.
        assert_eq!(pages, [None, Some("customer.segment=gold,region=eu")]);
        assert!(firing.iter().all(|a| a.generator_url.is_none()));
        let gold = firing.iter().find(|a| a.labels.contains_key("segment")).unwrap();
        assert!(
            gold.annotations["summary"].contains("for customer.segment=gold,region=eu"),
            "{:?}",
            gold.annotations
        );
    }

    fn alert(slo: &str, windows: &str) -> FiringAlert {
        FiringAlert {
            labels: Labels::from([
                ("alertname".to_string(), ALERT_NAME.to_string()),
                ("slo".to_string(), slo.to_string()),
                ("severity".to_string(), "page".to_string()),
                ("windows".to_string(), windows.to_string()),
            ]),
            annotations: BTreeMap::from([("summary".to_string(), format!("{slo} burns"))]),
            generator_url: None,
        }
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
    }

    const RESEND: Duration = Duration::from_secs(60);
    const HOLD: Duration = Duration::from_secs(240);

    #[test]
    fn firing_is_sent_resent_each_resend_interval_and_resolved_once() {
        let mut book = AlertBook::default();
        // Nothing fires: nothing to send, even though no batch was ever delivered.
        assert!(book.plan(vec![], at(0), RESEND, HOLD).is_empty());

        let batch = book.plan(vec![alert("a", "1h/5m")], at(10), RESEND, HOLD);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].starts_at, rfc3339(at(10)));
        assert_eq!(batch[0].ends_at, rfc3339(at(10) + HOLD));
        book.delivered(at(10), HOLD);

        // Still firing, 15 s later: not due again.
        assert!(book.plan(vec![alert("a", "1h/5m")], at(25), RESEND, HOLD).is_empty());
        // A resend interval after the delivery: sent again, same startsAt, later endsAt.
        let batch = book.plan(vec![alert("a", "1h/5m")], at(70), RESEND, HOLD);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].starts_at, rfc3339(at(10)));
        assert_eq!(batch[0].ends_at, rfc3339(at(70) + HOLD));
        book.delivered(at(70), HOLD);

        // It stops: sent at once with endsAt = now, which resolves it.
        let batch = book.plan(vec![], at(80), RESEND, HOLD);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].starts_at, rfc3339(at(10)));
        assert_eq!(batch[0].ends_at, rfc3339(at(80)));
        book.delivered(at(80), HOLD);
        assert!(book.firing().is_empty());
        // Resolved once: never sent again.
        assert!(book.plan(vec![], at(200), RESEND, HOLD).is_empty());
    }

    #[test]
    fn a_new_alert_goes_out_at_once_with_those_still_firing() {
        let mut book = AlertBook::default();
        book.plan(vec![alert("a", "1h/5m")], at(0), RESEND, HOLD);
        book.delivered(at(0), HOLD);
        let batch = book.plan(vec![alert("a", "1h/5m"), alert("a", "6h/30m")], at(15), RESEND, HOLD);
        let windows: Vec<&str> = batch.iter().map(|a| a.labels["windows"].as_str()).collect();
        assert_eq!(windows, ["1h/5m", "6h/30m"]);
        assert_eq!(batch[0].starts_at, rfc3339(at(0)));
        assert_eq!(batch[1].starts_at, rfc3339(at(15)));
    }

    #[test]
    fn undelivered_changes_are_retried_every_tick_and_stale_resolves_given_up() {
        let mut book = AlertBook::default();
        book.plan(vec![alert("a", "1h/5m")], at(0), RESEND, HOLD);
        book.delivered(at(0), HOLD);
        // A new alert, and Alertmanager is down: not delivered.
        assert_eq!(
            book.plan(vec![alert("a", "1h/5m"), alert("b", "1h/5m")], at(15), RESEND, HOLD)
                .len(),
            2
        );
        // Next tick, well within the resend interval: sent again, as b is undelivered.
        assert_eq!(
            book.plan(vec![alert("a", "1h/5m"), alert("b", "1h/5m")], at(30), RESEND, HOLD)
                .len(),
            2
        );
        // Both stop while Alertmanager is still down. b was never delivered: nothing
        // to resolve. a was, until 0 + HOLD: its resolve is retried until then.
        let batch = book.plan(vec![], at(45), RESEND, HOLD);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].labels["slo"], "a");
        assert_eq!(batch[0].ends_at, rfc3339(at(45)));
        assert_eq!(book.plan(vec![], at(60), RESEND, HOLD).len(), 1);
        // Past the endsAt Alertmanager holds, it has resolved a itself.
        assert!(book.plan(vec![], at(240), RESEND, HOLD).is_empty());
        assert!(book.alerts.is_empty());
    }

    #[test]
    fn firing_again_after_a_resolve_is_a_new_alert() {
        let mut book = AlertBook::default();
        book.plan(vec![alert("a", "1h/5m")], at(0), RESEND, HOLD);
        book.delivered(at(0), HOLD);
        book.plan(vec![], at(15), RESEND, HOLD);
        book.delivered(at(15), HOLD);
        let batch = book.plan(vec![alert("a", "1h/5m")], at(30), RESEND, HOLD);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].starts_at, rfc3339(at(30)));
        assert_eq!(batch[0].ends_at, rfc3339(at(30) + HOLD));
    }

    #[test]
    fn the_payload_is_alertmanagers_postable_alerts() {
        let mut book = AlertBook::default();
        let mut firing = alert("a", "1h/5m");
        firing.generator_url = Some("http://sloop:8888/api/v1/slos/a".into());
        let batch = book.plan(vec![firing], at(0), RESEND, HOLD);
        let json = serde_json::to_value(&batch).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{
                "labels": {"alertname": ALERT_NAME, "slo": "a", "severity": "page", "windows": "1h/5m"},
                "annotations": {"summary": "a burns"},
                "startsAt": "2027-01-15T08:00:00.000Z",
                "endsAt": "2027-01-15T08:04:00.000Z",
                "generatorURL": "http://sloop:8888/api/v1/slos/a",
            }])
        );
        // Without a generatorURL the key is left out, not sent empty.
        let batch = AlertBook::default().plan(vec![alert("a", "1h/5m")], at(0), RESEND, HOLD);
        assert!(!serde_json::to_string(&batch).unwrap().contains("generatorURL"));
    }

    fn parse(yaml: &str) -> Result<AlertmanagerConfig, Vec<ConfigError>> {
        let dict: figment::value::Dict = figment::Figment::from(
            <serde_saphyr::figment::Yaml as figment::providers::Format>::string(yaml),
        )
        .extract()
        .unwrap();
        crate::confmap::parse_block(&figment::value::Value::from(dict))
    }

    #[test]
    fn config_defaults_and_refusals() {
        let config = parse("endpoint: http://127.0.0.1:9093").unwrap();
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.resend_interval, Duration::from_secs(60));
        for (yaml, path, message) in [
            ("endpoint: 127.0.0.1:9093", "endpoint", "http:// or https://"),
            ("endpoint: ftp://am:21", "endpoint", "http:// or https://"),
            ("endpoint: 'http://'", "endpoint", "empty host"),
            ("{endpoint: 'http://am', timeout: 0s}", "timeout", "greater than 0"),
            (
                "{endpoint: 'http://am', resend_interval: 100ms}",
                "resend_interval",
                "at least 1s",
            ),
            (
                "{endpoint: 'http://am', external_url: sloop:8888}",
                "external_url",
                "http://",
            ),
            (
                "{endpoint: 'http://am', headers: {'bad header': x}}",
                "headers.bad header",
                "header name",
            ),
            (
                "{endpoint: 'http://am', labels: {severity: low}}",
                "labels.severity",
                "reserved",
            ),
            (
                "{endpoint: 'http://am', labels: {'team-name': x}}",
                "labels.team-name",
                "not a label name",
            ),
        ] {
            let errors = parse(yaml).err().unwrap_or_else(|| panic!("{yaml} accepted"));
            assert!(
                errors.iter().any(|e| e.path == path && e.message.contains(message)),
                "{yaml}: {errors:?}"
            );
        }
    }

    #[tokio::test]
    async fn only_the_newest_instance_sends_and_the_book_survives_a_reload() {
        let state = StateStore::default();
        let id = ComponentId::parse("slo").unwrap();
        let config = parse("endpoint: http://127.0.0.1:9").unwrap();
        let old = AlertmanagerNotifier::new(&config, Duration::from_secs(15), &id, &state).unwrap();
        old.take_over();
        old.shared
            .book
            .lock()
            .await
            .plan(vec![alert("a", "1h/5m")], at(0), RESEND, HOLD);
        let new = AlertmanagerNotifier::new(&config, Duration::from_secs(15), &id, &state).unwrap();
        assert!(
            Arc::ptr_eq(&old.shared, &new.shared),
            "same endpoint: the alerts are kept"
        );
        assert_eq!(
            new.hold,
            Duration::from_secs(240),
            "4 x max(resend_interval 1m, interval 15s)"
        );
        new.take_over();
        // The old instance, told to notify with nothing firing, leaves a alone.
        old.notify(&[]).await;
        assert_eq!(new.shared.book.lock().await.firing().len(), 1);
        let moved = parse("endpoint: http://127.0.0.1:10").unwrap();
        let elsewhere = AlertmanagerNotifier::new(&moved, Duration::from_secs(15), &id, &state).unwrap();
        assert!(
            elsewhere.shared.book.lock().await.firing().is_empty(),
            "another endpoint starts afresh"
        );
    }
}
