//! `sloop rules`: Prometheus recording and alerting rules for every SLO in a config.
//!
//! Each sloop replica keeps its own SLO state, so its `slo.error_budget.remaining`
//! gauge only knows the events that replica saw. The `slo.events` counters are
//! different: summed across replicas in Prometheus they count every event once. The
//! rules generated here do exactly that, so budgets and burn-rate alerts stay right
//! however many replicas share the traffic.
//!
//! **What Prometheus sees.** `slo.events` is a cumulative monotonic Sum with unit
//! `{event}`. The OpenTelemetry "Prometheus and OpenMetrics compatibility" spec turns
//! it into the counter `slo_events_total`: dots become underscores, a unit in braces
//! is an annotation and is dropped, and a monotonic Sum gets the `_total` suffix. Its
//! attributes become the labels `slo_name` and `slo_outcome` (`good`/`bad`), and
//! `group_by` attributes become labels the same way (`customer.segment` →
//! `customer_segment`). Resource attributes become `job` (`service.namespace/service.name`)
//! and `instance` (`service.instance.id`) or labels the scrape adds; the rules sum
//! those away, which is what merges the replicas. This holds for the Collector's
//! `prometheus` and `prometheusremotewrite` exporters and Prometheus's own OTLP
//! receiver with its default (underscore-escaping, with suffixes) translation;
//! `--events-metric` names the counter if a different translation is in use.
//!
//! **What is generated**, per objective, named and labelled like
//! [Sloth](https://github.com/slok/sloth) so its Grafana dashboards work unchanged:
//!
//! - group `sloth-slo-sli-recordings-<id>`: `slo:sli_error:ratio_rate<w>` for the
//!   windows 5m, 30m, 1h, 2h, 6h, 1d, 3d (those shorter than the SLO window), every
//!   window the objective's `alerting` rules use, and the SLO window itself
//!   (`slo:sli_error:ratio_rate30d` for a 30d window);
//! - group `sloth-slo-meta-recordings-<id>`: `slo:objective:ratio`,
//!   `slo:error_budget:ratio`, `slo:time_period:days`, `slo:current_burn_rate:ratio`,
//!   `slo:period_burn_rate:ratio`, `slo:period_error_budget_remaining:ratio`,
//!   `sloth_slo_info`;
//! - group `sloth-slo-alerts-<id>`: `SloopSLOPageBurnRate` and `SloopSLOTicketBurnRate`,
//!   one per severity, built from the objective's own `alerting` config (the SRE
//!   Workbook's multiwindow, multi-burn-rate rules by default) including `min_events`,
//!   so Prometheus fires when the `slo.alert` gauge of a single replica would.
//!
//! Labels: `sloth_id` (`<service>-<objective name>`), `sloth_service` (`--service`,
//! default `sloop`), `sloth_slo` (the objective name), `sloth_window` on the ratios,
//! plus `slo_name` to join with sloop's own `slo_*` gauges.
//!
//! **The SLO-window ratio is request-weighted**: `sum(increase(bad[30d])) /
//! sum(increase(total[30d]))`, the same figure sloop's `slo.error_budget.remaining`
//! and `sloop slo status` report. Sloth averages its 5m ratio over the period instead
//! (`sum_over_time(ratio_rate5m[30d]) / count_over_time(...)`), which is cheaper to
//! evaluate but weighs a quiet night's 5 minutes like a busy afternoon's. The cost of
//! exactness: each evaluation reads the raw counter samples of the whole window
//! (two series per replica per objective).
//!
//! **Calendar windows** (`calendar: month | week`) have no PromQL equivalent; their
//! rules use a rolling 30d or 7d window, and say so in `sloth_slo_info`.
//!
//! **Group-by objectives**: the rules cover the objective as a whole (the series
//! without the `group_by` labels); the per-group series are left out of the sums so
//! nothing counts twice.

mod model;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

pub use model::{HelmPrometheusRule, HelmValues, Rule, RuleFile, RuleGroup};

use crate::config::Config;
use crate::processors::slo::{window_label, BurnRateRule, Calendar, ObjectiveConfig, SloConfig, DEFAULT_WINDOW};

/// The windows Sloth records for every SLO; dashboards read some of them.
pub const SLOTH_WINDOWS: [Duration; 7] = [
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(86400),
    Duration::from_secs(3 * 86400),
];

/// The page alert's name.
pub const PAGE_ALERT: &str = "SloopSLOPageBurnRate";
/// The ticket alert's name.
pub const TICKET_ALERT: &str = "SloopSLOTicketBurnRate";

/// Choices that are not in the sloop config.
#[derive(Debug, Clone)]
pub struct RulesOptions {
    /// `sloth_service` and the first part of `sloth_id`.
    pub service: String,
    /// The counter `slo.events` becomes in Prometheus.
    pub events_metric: String,
}

impl Default for RulesOptions {
    fn default() -> Self {
        Self {
            service: "sloop".into(),
            events_metric: "slo_events_total".into(),
        }
    }
}

/// Why no rules could be generated.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The config has no `slo` processor (or none with objectives).
    #[error("the config defines no SLO: add an `slo` processor with objectives (see `processors: slo` in the README)")]
    NoSlo,
    /// The YAML could not be written.
    #[error("cannot write the rules as YAML: {0}")]
    Yaml(String),
}

/// Every objective of every `slo` processor that runs in a pipeline, in processor id
/// order. (A processor defined but in no pipeline runs nowhere, as in the Collector,
/// so it emits no counters to write rules for.)
pub fn objectives(config: &Config) -> Vec<&ObjectiveConfig> {
    config
        .processors
        .iter()
        .filter(|(id, _)| config.pipelines.iter().any(|p| p.processors.contains(id)))
        .filter_map(|(_, processor)| (processor.as_ref() as &dyn std::any::Any).downcast_ref::<SloConfig>())
        .flat_map(|slo| slo.objectives.iter())
        .collect()
}

/// Rules for every objective in `config`.
pub fn generate_for_config(config: &Config, options: &RulesOptions) -> Result<RuleFile, RulesError> {
    let objectives = objectives(config);
    if objectives.is_empty() {
        return Err(RulesError::NoSlo);
    }
    Ok(generate(&objectives, options))
}

/// Rules for `objectives`: three groups each (SLI ratios, meta, alerts).
pub fn generate(objectives: &[&ObjectiveConfig], options: &RulesOptions) -> RuleFile {
    let mut groups = Vec::new();
    for objective in objectives {
        let slo = SloRules::new(objective, options);
        groups.push(slo.sli_group());
        groups.push(slo.meta_group());
        if let Some(alerts) = slo.alert_group() {
            groups.push(alerts);
        }
    }
    RuleFile { groups }
}

/// The rule file as YAML, after a comment saying where it came from.
pub fn to_yaml(rules: &RuleFile, source: &str) -> Result<String, RulesError> {
    let body = serde_saphyr::to_string(rules).map_err(|e| RulesError::Yaml(e.to_string()))?;
    Ok(format!("{}{body}", header(source)))
}

/// The groups as Helm values for the sloop chart (`prometheusRule.groups`).
pub fn to_helm_values_yaml(rules: &RuleFile, source: &str) -> Result<String, RulesError> {
    let values = HelmValues {
        prometheus_rule: HelmPrometheusRule {
            enabled: true,
            groups: rules.groups.clone(),
        },
    };
    let body = serde_saphyr::to_string(&values).map_err(|e| RulesError::Yaml(e.to_string()))?;
    Ok(format!("{}{body}", header(source)))
}

fn header(source: &str) -> String {
    format!(
        "# Generated by `sloop rules` {} from {source}. Do not edit: change the slo processor\n\
         # config and generate again. Recording rules are Sloth-compatible.\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// A number as PromQL and label text: rounded to 12 decimals, so `1 - 0.999` reads
/// `0.001` rather than `0.0010000000000000009`.
pub fn number(value: f64) -> String {
    let rounded = (value * 1e12).round() / 1e12;
    format!("{rounded}")
}

/// The Prometheus label an OpenTelemetry attribute key becomes: characters outside
/// `[a-zA-Z0-9_]` become `_`, runs of `_` collapse to one, and a leading digit gets a
/// `key_` prefix (the Collector's and Prometheus's OTLP translation).
pub fn label_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    out
}

/// A PromQL string literal.
pub fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The SLO window the rules use, and whether it stands in for a calendar window.
pub fn period(objective: &ObjectiveConfig) -> (Duration, Option<Calendar>) {
    match objective.calendar {
        Some(Calendar::Month) => (Duration::from_secs(30 * 86400), Some(Calendar::Month)),
        Some(Calendar::Week) => (Duration::from_secs(7 * 86400), Some(Calendar::Week)),
        None => (objective.window.unwrap_or(DEFAULT_WINDOW), None),
    }
}

/// The ratio windows recorded for `objective`, shortest first, ending with the SLO
/// window: Sloth's standard windows shorter than the SLO window, plus every window
/// the alerting rules use.
pub fn ratio_windows(objective: &ObjectiveConfig) -> Vec<Duration> {
    let (period, _) = period(objective);
    let alerting = &objective.alerting;
    let mut windows: Vec<Duration> = SLOTH_WINDOWS
        .iter()
        .copied()
        .chain(
            alerting
                .page
                .iter()
                .chain(&alerting.ticket)
                .flat_map(|r| [r.short, r.long]),
        )
        .filter(|w| *w < period)
        .collect();
    windows.push(period);
    windows.sort();
    windows.dedup();
    windows
}

/// Everything the rules of one objective share.
struct SloRules<'a> {
    objective: &'a ObjectiveConfig,
    options: &'a RulesOptions,
    id: String,
    period: Duration,
    calendar: Option<Calendar>,
    /// `1 - target`, as text.
    error_budget: String,
}

impl<'a> SloRules<'a> {
    fn new(objective: &'a ObjectiveConfig, options: &'a RulesOptions) -> Self {
        let (period, calendar) = period(objective);
        Self {
            objective,
            options,
            id: format!("{}-{}", options.service, objective.name),
            period,
            calendar,
            error_budget: number(1.0 - objective.target),
        }
    }

    /// `slo_events_total{...}` for the objective as a whole: its name, and empty
    /// `group_by` labels so the per-group series are not counted again.
    fn events(&self, outcome: &str) -> String {
        let mut matchers = vec![format!("slo_name={}", quoted(&self.objective.name))];
        matchers.extend(
            self.objective
                .group_by
                .iter()
                .map(|k| format!("{}=\"\"", label_name(k))),
        );
        matchers.push(outcome.to_string());
        format!("{}{{{}}}", self.options.events_metric, matchers.join(","))
    }

    fn bad_events(&self) -> String {
        self.events("slo_outcome=\"bad\"")
    }

    fn all_events(&self) -> String {
        self.events("slo_outcome=~\"good|bad\"")
    }

    /// The labels every rule of this objective carries.
    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("sloth_id".to_string(), self.id.clone()),
            ("sloth_service".to_string(), self.options.service.clone()),
            ("sloth_slo".to_string(), self.objective.name.clone()),
            ("slo_name".to_string(), self.objective.name.clone()),
        ])
    }

    /// `{sloth_id="...", sloth_service="...", sloth_slo="..."}`, to pick this
    /// objective's recorded series.
    fn selector(&self) -> String {
        format!(
            "{{sloth_id={}, sloth_service={}, sloth_slo={}}}",
            quoted(&self.id),
            quoted(&self.options.service),
            quoted(&self.objective.name)
        )
    }

    fn ratio_name(window: Duration) -> String {
        format!("slo:sli_error:ratio_rate{}", window_label(window))
    }

    fn sli_group(&self) -> RuleGroup {
        let rules = ratio_windows(self.objective)
            .into_iter()
            .map(|window| {
                let w = window_label(window);
                // Over the SLO window, `increase` says what is meant (events in the
                // window); the ratio is the same as with `rate`.
                let function = if window == self.period { "increase" } else { "rate" };
                let expr = format!(
                    "(sum({function}({bad}[{w}])))\n/\n(sum({function}({all}[{w}])))\n",
                    bad = self.bad_events(),
                    all = self.all_events(),
                );
                let mut labels = self.labels();
                labels.insert("sloth_window".into(), w);
                Rule::Recording {
                    record: Self::ratio_name(window),
                    expr,
                    labels,
                }
            })
            .collect();
        RuleGroup {
            name: format!("sloth-slo-sli-recordings-{}", self.id),
            rules,
        }
    }

    fn meta_group(&self) -> RuleGroup {
        let sel = self.selector();
        let record = |name: &str, expr: String| Rule::Recording {
            record: name.into(),
            expr,
            labels: self.labels(),
        };
        let burn_rate = |ratio: String| {
            format!("{ratio}{sel}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{sel}\n")
        };
        let mut info = self.labels();
        info.insert("sloth_mode".into(), "sloop-rules".into());
        info.insert("sloth_spec".into(), "sloop/v1".into());
        info.insert("sloth_version".into(), env!("CARGO_PKG_VERSION").into());
        info.insert("sloth_objective".into(), number(self.objective.target * 100.0));
        info.insert(
            "sloop_window".into(),
            match self.calendar {
                Some(Calendar::Month) => "calendar month (rules: rolling 30d)".into(),
                Some(Calendar::Week) => "calendar week (rules: rolling 7d)".into(),
                None => window_label(self.period),
            },
        );
        let rules = vec![
            record(
                "slo:objective:ratio",
                format!("vector({})", number(self.objective.target)),
            ),
            record("slo:error_budget:ratio", format!("vector({})", self.error_budget)),
            record(
                "slo:time_period:days",
                format!("vector({})", number(self.period.as_secs_f64() / 86400.0)),
            ),
            record(
                "slo:current_burn_rate:ratio",
                burn_rate(Self::ratio_name(SLOTH_WINDOWS[0])),
            ),
            record("slo:period_burn_rate:ratio", burn_rate(Self::ratio_name(self.period))),
            record(
                "slo:period_error_budget_remaining:ratio",
                format!("1 - slo:period_burn_rate:ratio{sel}"),
            ),
            Rule::Recording {
                record: "sloth_slo_info".into(),
                expr: "vector(1)".into(),
                labels: info,
            },
        ];
        RuleGroup {
            name: format!("sloth-slo-meta-recordings-{}", self.id),
            rules,
        }
    }

    /// `(short > threshold and long > threshold [and enough events])`, one
    /// multiwindow rule.
    fn burn_condition(&self, rule: &BurnRateRule) -> String {
        let sel = self.selector();
        let threshold = format!("({} * {})", number(rule.burn_rate), self.error_budget);
        let mut lines = vec![
            format!("  ({}{sel} > {threshold})", Self::ratio_name(rule.short)),
            "  and ignoring (sloth_window)".to_string(),
            format!("  ({}{sel} > {threshold})", Self::ratio_name(rule.long)),
        ];
        let min_events = self.objective.alerting.min_events;
        if min_events > 0.0 {
            lines.push("  and on ()".into());
            lines.push(format!(
                "  (sum(increase({}[{}])) >= {})",
                self.all_events(),
                window_label(rule.long),
                number(min_events)
            ));
        }
        format!("(\n{}\n)", lines.join("\n"))
    }

    fn alert(&self, name: &str, severity: &str, rules: &[BurnRateRule]) -> Option<Rule> {
        if rules.is_empty() {
            return None;
        }
        let expr = rules
            .iter()
            .map(|r| self.burn_condition(r))
            .collect::<Vec<_>>()
            .join("\nor ignoring (sloth_window)\n");
        let mut labels = self.labels();
        labels.insert("severity".into(), severity.into());
        labels.insert("sloth_severity".into(), severity.into());
        let when = rules
            .iter()
            .map(|r| {
                format!(
                    "above {}x over {} and {}",
                    number(r.burn_rate),
                    window_label(r.long),
                    window_label(r.short)
                )
            })
            .collect::<Vec<_>>()
            .join(", or ");
        let annotations = BTreeMap::from([
            (
                "summary".to_string(),
                format!(
                    "SLO {} is burning its error budget too fast ({severity}).",
                    self.objective.name
                ),
            ),
            (
                "title".to_string(),
                format!(
                    "({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast."
                ),
            ),
            (
                "description".to_string(),
                format!(
                    "Error budget burn rate {when} (objective {}% over {}, across all sloop replicas).",
                    number(self.objective.target * 100.0),
                    window_label(self.period)
                ),
            ),
        ]);
        Some(Rule::Alerting {
            alert: name.into(),
            expr: format!("{expr}\n"),
            labels,
            annotations,
        })
    }

    fn alert_group(&self) -> Option<RuleGroup> {
        let alerting = &self.objective.alerting;
        let rules: Vec<Rule> = [
            self.alert(PAGE_ALERT, "page", &alerting.page),
            self.alert(TICKET_ALERT, "ticket", &alerting.ticket),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!rules.is_empty()).then(|| RuleGroup {
            name: format!("sloth-slo-alerts-{}", self.id),
            rules,
        })
    }
}
