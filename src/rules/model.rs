//! The Prometheus rule file format (`groups:` of recording and alerting rules), as
//! serde types, so the YAML is written by a serializer rather than by string pasting.

use std::collections::BTreeMap;

use serde::Serialize;

/// A Prometheus rule file: what `rule_files:` loads and `promtool check rules` reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleFile {
    /// The rule groups, one set of three per SLO.
    pub groups: Vec<RuleGroup>,
}

/// One rule group: rules evaluated together, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleGroup {
    /// Unique group name (`sloth-slo-sli-recordings-<id>`, ...).
    pub name: String,
    /// The rules, recording or alerting.
    pub rules: Vec<Rule>,
}

/// A recording rule (`record:`) or an alerting rule (`alert:`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Rule {
    /// Stores the result of `expr` as a new series named `record`.
    Recording {
        /// The recorded metric name, e.g. `slo:sli_error:ratio_rate5m`.
        record: String,
        /// PromQL.
        expr: String,
        /// Labels set on the recorded series.
        labels: BTreeMap<String, String>,
    },
    /// Fires while `expr` returns any series.
    Alerting {
        /// The alert name.
        alert: String,
        /// PromQL.
        expr: String,
        /// Labels added to the alert (severity, ...).
        labels: BTreeMap<String, String>,
        /// Text for humans (summary, title, ...).
        annotations: BTreeMap<String, String>,
    },
}

impl Rule {
    /// The recorded metric or alert name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording { record, .. } => record,
            Rule::Alerting { alert, .. } => alert,
        }
    }

    /// The PromQL expression.
    pub fn expr(&self) -> &str {
        match self {
            Rule::Recording { expr, .. } | Rule::Alerting { expr, .. } => expr,
        }
    }

    /// The rule's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        match self {
            Rule::Recording { labels, .. } | Rule::Alerting { labels, .. } => labels,
        }
    }
}

/// Helm values for the sloop chart: the groups under `prometheusRule.groups`, which the
/// chart renders verbatim into a PrometheusRule's `spec.groups`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmValues {
    /// `prometheusRule:`.
    pub prometheus_rule: HelmPrometheusRule,
}

/// `prometheusRule:` in the chart's values.
#[derive(Debug, Clone, Serialize)]
pub struct HelmPrometheusRule {
    /// Render the PrometheusRule object.
    pub enabled: bool,
    /// Its `spec.groups`.
    pub groups: Vec<RuleGroup>,
}
