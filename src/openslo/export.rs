//! A sloop config's objectives → OpenSLO v1 documents.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{
    Alerting, Annotations, BurnRate, Objective, Sli, SloopObjectives, Window, ALERTS_ANNOTATION, GROUP_BY_ANNOTATION,
    MAX_GROUPS_ANNOTATION, MIN_EVENTS_ANNOTATION,
};
use crate::config::Config;
use crate::processors::sli::CompiledSlis;
use crate::processors::slo::{AlertingConfig, BurnRateRule, Calendar, DEFAULT_WINDOW};

/// The `max_groups` and `min_events` sloop uses when they are not set (see the slo
/// processor's config): left out of the export, as the import leaves them out.
const DEFAULT_MAX_GROUPS: usize = 50;
const DEFAULT_MIN_EVENTS: f64 = 10.0;

/// The name of the one `AlertNotificationTarget` every exported policy names.
pub const NOTIFICATION_TARGET: &str = "sloop-slo-alert";

/// Why a config cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// No `slo` processor with objectives runs in a pipeline.
    #[error("the config defines no SLO: add an `slo` processor with objectives to a pipeline")]
    NoSlo,
    /// An objective counts verdicts of an SLI classified upstream.
    #[error(
        "objective {objective:?} counts the SLI {sli:?}, which no sli processor in this config defines \
         (its verdicts come from upstream: trust_upstream_verdicts); OpenSLO needs the SLI's conditions: \
         export the config whose sli processor defines it"
    )]
    UndefinedSli {
        /// The objective.
        objective: String,
        /// Its SLI.
        sli: String,
    },
    /// Two `sli` processors define one name differently.
    #[error(
        "two sli processors define the SLI {0:?} with different conditions; OpenSLO names an SLI once: rename one"
    )]
    ConflictingSli(String),
    /// A window OpenSLO's shorthand cannot write.
    #[error("objective {objective:?}: {what} {duration:?} is not a whole number of minutes")]
    Duration {
        /// The objective.
        objective: String,
        /// Which window.
        what: &'static str,
        /// The window.
        duration: Duration,
    },
    /// The YAML could not be written.
    #[error("cannot write the documents as YAML: {0}")]
    Yaml(String),
}

/// The SLIs and objectives of the `sli` and `slo` processors that run in a pipeline of
/// `config`, with every setting spelled out (a window left out is `30d`; `alerting`
/// its rules, default or not), so two configs with the same objectives give equal
/// values however they were written.
pub fn objectives_of(config: &Config) -> Result<SloopObjectives, ExportError> {
    let mut slis: Vec<Sli> = Vec::new();
    for (id, processor) in &config.processors {
        if !config.pipelines.iter().any(|p| p.processors.contains(id)) {
            continue;
        }
        let Some(compiled) = (processor.as_ref() as &dyn std::any::Any).downcast_ref::<CompiledSlis>() else {
            continue;
        };
        // Every SLI compiles for spans or for log records (or the config is refused);
        // the texts are the same in both.
        let Some(list) = compiled.spans.as_ref().ok().or(compiled.logs.as_ref().ok()) else {
            continue;
        };
        for sli in list {
            let sli = Sli {
                name: sli.name.clone(),
                when: sli.when.as_ref().map(|c| c.text().to_string()),
                exclude: sli.exclude.iter().map(|c| c.text().to_string()).collect(),
                good: sli.good.text().to_string(),
            };
            match slis.iter().find(|s| s.name == sli.name) {
                Some(existing) if *existing != sli => return Err(ExportError::ConflictingSli(sli.name)),
                Some(_) => {}
                None => slis.push(sli),
            }
        }
    }
    let configured = crate::rules::objectives(config);
    if configured.is_empty() {
        return Err(ExportError::NoSlo);
    }
    let mut objectives = Vec::new();
    for objective in configured {
        if !slis.iter().any(|s| s.name == objective.sli) {
            return Err(ExportError::UndefinedSli {
                objective: objective.name.clone(),
                sli: objective.sli.clone(),
            });
        }
        objectives.push(Objective {
            name: objective.name.clone(),
            sli: objective.sli.clone(),
            target: objective.target,
            window: Some(match objective.calendar {
                Some(Calendar::Month) => Window::Month,
                Some(Calendar::Week) => Window::Week,
                None => Window::Rolling(objective.window.unwrap_or(DEFAULT_WINDOW)),
            }),
            group_by: objective.group_by.clone(),
            max_groups: (objective.max_groups != DEFAULT_MAX_GROUPS).then_some(objective.max_groups),
            alerting: Alerting {
                page: Some(burn_rates(&objective.alerting.page)),
                ticket: Some(burn_rates(&objective.alerting.ticket)),
                min_events: (objective.alerting.min_events != DEFAULT_MIN_EVENTS)
                    .then_some(objective.alerting.min_events),
            },
        });
    }
    Ok(SloopObjectives { slis, objectives })
}

/// `objectives` as OpenSLO v1 documents (multi-document YAML) for the service
/// `service`, after a comment naming `source`.
pub fn export(objectives: &SloopObjectives, service: &str, source: &str) -> Result<String, ExportError> {
    let mut documents = Vec::new();
    for sli in &objectives.slis {
        documents.push(sli_document(sli));
    }
    let mut alerts = false;
    for objective in &objectives.objectives {
        let (slo, mut rules) = slo_documents(objective, service)?;
        alerts |= !rules.is_empty();
        documents.push(slo);
        documents.append(&mut rules);
    }
    if alerts {
        documents.push(json!({
            "apiVersion": "openslo/v1",
            "kind": "AlertNotificationTarget",
            "metadata": {"name": NOTIFICATION_TARGET},
            "spec": {
                "target": "slo.alert",
                "description": "sloop's alerts: the slo.alert metrics, and the alerts of `sloop rules`",
            },
        }));
    }
    let body = serde_saphyr::to_string_multiple(&documents).map_err(|e| ExportError::Yaml(e.to_string()))?;
    Ok(format!(
        "# Generated by `sloop slo export` {} from {source}: OpenSLO v1, which\n\
         # `sloop slo import` reads back. The conditions are sloop's (metricSource type sloop).\n{body}",
        env!("CARGO_PKG_VERSION")
    ))
}

fn sli_document(sli: &Sli) -> Value {
    let mut total = Map::new();
    if let Some(when) = &sli.when {
        total.insert("when".into(), json!(when));
    }
    if !sli.exclude.is_empty() {
        total.insert("exclude".into(), json!(sli.exclude));
    }
    json!({
        "apiVersion": "openslo/v1",
        "kind": "SLI",
        "metadata": {"name": sli.name},
        "spec": {
            "ratioMetric": {
                "counter": true,
                "good": {"metricSource": {"type": "sloop", "spec": {"condition": sli.good}}},
                "total": {"metricSource": {"type": "sloop", "spec": total}},
            },
        },
    })
}

/// The SLO document of an objective, and its AlertPolicy and AlertCondition documents.
fn slo_documents(objective: &Objective, service: &str) -> Result<(Value, Vec<Value>), ExportError> {
    let shorthand = |what: &'static str, duration: Duration| {
        shorthand(duration).ok_or_else(|| ExportError::Duration {
            objective: objective.name.clone(),
            what,
            duration,
        })
    };
    // 2024-01-01 is a Monday and the first of a month: where sloop's calendar weeks
    // and months start.
    let calendar = json!({"startTime": "2024-01-01 00:00:00", "timeZone": "UTC"});
    let time_window = match objective.window.unwrap_or(Window::Rolling(DEFAULT_WINDOW)) {
        Window::Rolling(duration) => json!({"duration": shorthand("window", duration)?, "isRolling": true}),
        Window::Month => json!({"duration": "1M", "isRolling": false, "calendar": calendar}),
        Window::Week => json!({"duration": "1w", "isRolling": false, "calendar": calendar}),
    };
    let mut annotations = Annotations::new();
    if !objective.group_by.is_empty() {
        annotations.insert(GROUP_BY_ANNOTATION.into(), objective.group_by.join(","));
    }
    if let Some(max_groups) = objective.max_groups {
        annotations.insert(MAX_GROUPS_ANNOTATION.into(), max_groups.to_string());
    }
    if let Some(min_events) = objective.alerting.min_events {
        annotations.insert(MIN_EVENTS_ANNOTATION.into(), min_events.to_string());
    }
    // `None` is sloop's default; OpenSLO has no defaults, so they are written out.
    let defaults = AlertingConfig::default();
    let page = (objective.alerting.page.clone()).unwrap_or_else(|| burn_rates(&defaults.page));
    let ticket = (objective.alerting.ticket.clone()).unwrap_or_else(|| burn_rates(&defaults.ticket));
    if page.is_empty() && ticket.is_empty() {
        annotations.insert(ALERTS_ANNOTATION.into(), "none".into());
    }
    let mut rules = Vec::new();
    let mut policies = Vec::new();
    for (severity, list) in [("page", &page), ("ticket", &ticket)] {
        for (i, rule) in list.iter().enumerate() {
            let name = format!("{}-{severity}-{}", objective.name, i + 1);
            rules.push(json!({
                "apiVersion": "openslo/v1",
                "kind": "AlertCondition",
                "metadata": {"name": name},
                "spec": {
                    "severity": severity,
                    "condition": {
                        "kind": "burnrate",
                        "op": "gt",
                        "threshold": rule.burn_rate,
                        "lookbackWindow": shorthand("an alert rule's long window", rule.long)?,
                        "alertAfter": shorthand("an alert rule's short window", rule.short)?,
                    },
                },
            }));
            rules.push(json!({
                "apiVersion": "openslo/v1",
                "kind": "AlertPolicy",
                "metadata": {"name": name},
                "spec": {
                    "alertWhenBreaching": true,
                    "alertWhenResolved": true,
                    "alertWhenNoData": false,
                    "conditions": [{"conditionRef": name}],
                    "notificationTargets": [{"targetRef": NOTIFICATION_TARGET}],
                },
            }));
            policies.push(json!({"alertPolicyRef": name}));
        }
    }
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(objective.name));
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), json!(annotations));
    }
    let mut spec = json!({
        "service": service,
        "indicatorRef": objective.sli,
        "timeWindow": [time_window],
        "budgetingMethod": "Occurrences",
        "objectives": [{"target": objective.target}],
    });
    if !policies.is_empty() {
        spec["alertPolicies"] = json!(policies);
    }
    let slo = json!({
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": metadata,
        "spec": spec,
    });
    Ok((slo, rules))
}

fn burn_rates(rules: &[BurnRateRule]) -> Vec<BurnRate> {
    rules
        .iter()
        .map(|r| BurnRate {
            long: r.long,
            short: r.short,
            burn_rate: r.burn_rate,
        })
        .collect()
}

/// A duration in OpenSLO's shorthand, in the largest of `d`, `h`, `m` that fits.
fn shorthand(duration: Duration) -> Option<String> {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() != 0 || seconds == 0 || !seconds.is_multiple_of(60) {
        return None;
    }
    Some(if seconds.is_multiple_of(86400) {
        format!("{}d", seconds / 86400)
    } else if seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else {
        format!("{}m", seconds / 60)
    })
}
