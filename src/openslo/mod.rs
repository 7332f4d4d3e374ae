//! `sloop slo import` and `sloop slo export`: [OpenSLO](https://github.com/OpenSLO/OpenSLO)
//! v1 documents to sloop config, and back.
//!
//! sloop classifies every event itself, so the OpenSLO SLIs it can run are ratio
//! metrics whose queries are sloop conditions (the [condition language](crate::ottl)).
//! A metric source of `type: sloop` carries them:
//!
//! ```text
//! apiVersion: openslo/v1
//! kind: SLI
//! metadata:
//!   name: homepage
//! spec:
//!   ratioMetric:
//!     counter: true
//!     good:                       # or `bad:` — the event is bad when it holds
//!       metricSource:
//!         type: sloop
//!         spec:
//!           condition: 'attributes["http.response.status_code"] == 200 and duration < 300ms'
//!     total:
//!       metricSource:
//!         type: sloop
//!         spec:                   # both optional: every event counts
//!           when: 'name == "GET /"'
//!           exclude: ['attributes["synthetic.load_test"] == true']
//! ```
//!
//! (`text`, not `yaml`: the fences of these docs hold OpenSLO documents, which are not
//! sloop config, and the doc-example check reads ```` ```yaml ```` blocks as sloop config.)
//!
//! **The mapping.** One sloop SLI per OpenSLO SLI (a separate `SLI` document or an SLO's
//! inline `indicator`): `total`'s `when` and `exclude` become the SLI's `when` and
//! `exclude`; `good`'s `condition` becomes `good`; a `bad` condition `c` becomes
//! `good: not (c)`. A `metricSourceRef` to a `DataSource` of `type: sloop` works as well.
//! One sloop objective per SLO objective, named after the SLO (or `<slo>-<displayName>`,
//! `<slo>-<n>` when the SLO has several objectives):
//!
//! | OpenSLO                                      | sloop                                        |
//! |----------------------------------------------|----------------------------------------------|
//! | `target: 0.999` / `targetPercent: 99.9`      | `target: 0.999`                              |
//! | `timeWindow: [{duration: 28d, isRolling: true}]` (`m`, `h`, `d`, `w`) | `window: 28d`    |
//! | `timeWindow: [{duration: 1M, calendar: {startTime: <the 1st, 00:00>, timeZone: UTC}}]` | `calendar: month` |
//! | `timeWindow: [{duration: 1w, calendar: {startTime: <a Monday, 00:00>, timeZone: UTC}}]` | `calendar: week` |
//! | no `timeWindow`                              | the default window, 30d                      |
//! | `budgetingMethod: Occurrences`               | what sloop counts (the only method it has)   |
//! | AlertCondition `severity: page` (`critical`, `sev1`, `p1`) | a rule in `alerting.page`      |
//! | AlertCondition `severity: ticket` (`warning`, `sev2`, `sev3`, `p2`, `p3`) | in `alerting.ticket` |
//! | `condition: {kind: burnrate, op: gt, threshold: 14.4, ...}` (`gte` too) | `burn_rate: 14.4` |
//! | `lookbackWindow: 1h`                         | `long: 1h`                                   |
//! | `alertAfter: 5m` (absent or `0m`: lookbackWindow / 12, whole minutes) | `short: 5m`         |
//! | annotation `sloop/group-by: "a,b"`           | `group_by: [a, b]`                           |
//! | annotations `sloop/max-groups`, `sloop/min-events` | `max_groups`, `alerting.min_events`    |
//! | annotation `sloop/alerts: none`              | `alerting: {page: [], ticket: []}`           |
//!
//! sloop's multiwindow rule fires while the burn rate over both windows is above the
//! threshold: the long window is OpenSLO's lookback window, and the short one stands in
//! for `alertAfter` (the burn must still be going on over the last `alertAfter`). An SLO
//! without `alertPolicies` keeps sloop's default rules (the SRE Workbook's); one with
//! policies gets exactly their rules.
//!
//! **What is refused**, each with the file, the document, the field path and what sloop
//! needs instead — every problem at once, not the first: metric sources sloop cannot
//! query (Prometheus, Datadog, ...), `thresholdMetric`, a `raw` ratio, the `Timeslices`
//! and `RatioTimeslices` budgeting methods, calendar windows other than a UTC month or
//! week, rolling windows in months, quarters or years, composite objectives, alert
//! conditions that fire below a threshold (`lt`, `lte`), and severities that are neither
//! a page nor a ticket. What sloop has no use for is left out and said in the output's
//! header: `Service` and `AlertNotificationTarget` documents, notification targets,
//! `alertWhenNoData`, display names and descriptions. Whatever is imported then goes
//! through the `sli` and `slo` processors' own checks (conditions that do not compile,
//! windows out of range), reported at the OpenSLO document they came from.
//!
//! **Export** writes the `sli` and `slo` processors of a config (those in a pipeline) as
//! OpenSLO: one `SLI` per sloop SLI, and per objective an `SLO` with its
//! `indicatorRef`, plus one `AlertPolicy` and `AlertCondition` per alert rule (OpenSLO
//! allows one condition per policy), and one `AlertNotificationTarget` the policies name.
//! `import` reads that back into the same objectives.

mod export;
mod import;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde::{Serialize, Serializer};

pub use export::{export, objectives_of, ExportError};
pub use import::{import, ImportError, ImportErrors};

/// The annotation that carries `group_by` (comma-separated keys).
pub const GROUP_BY_ANNOTATION: &str = "sloop/group-by";
/// The annotation that carries `max_groups`.
pub const MAX_GROUPS_ANNOTATION: &str = "sloop/max-groups";
/// The annotation that carries `alerting.min_events`.
pub const MIN_EVENTS_ANNOTATION: &str = "sloop/min-events";
/// The annotation that says an objective has no alert rules (`none`).
pub const ALERTS_ANNOTATION: &str = "sloop/alerts";

/// The objectives of a sloop config, as OpenSLO sees them: SLIs and objectives, with
/// only what OpenSLO can carry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SloopObjectives {
    /// The `sli` processor's SLIs.
    pub slis: Vec<Sli>,
    /// The `slo` processor's objectives.
    pub objectives: Vec<Objective>,
}

/// One SLI, as in the `sli` processor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sli {
    /// Its name.
    pub name: String,
    /// Eligibility (`None`: every event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Exclusions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// The success condition.
    pub good: String,
}

/// The window of an objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Rolling over this long.
    Rolling(Duration),
    /// The current calendar month (UTC).
    Month,
    /// The current ISO week (UTC).
    Week,
}

/// One objective, as in the `slo` processor.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// Its name.
    pub name: String,
    /// The SLI it counts.
    pub sli: String,
    /// The fraction of good events promised.
    pub target: f64,
    /// `None`: sloop's default (30d rolling).
    pub window: Option<Window>,
    /// Attribute keys that split the objective.
    pub group_by: Vec<String>,
    /// `None`: the default.
    pub max_groups: Option<usize>,
    /// Alert rules.
    pub alerting: Alerting,
}

/// An objective as the `slo` processor's config writes it.
#[derive(Serialize)]
struct ObjectiveOut<'a> {
    name: &'a str,
    sli: &'a str,
    target: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    calendar: Option<&'static str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    group_by: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    max_groups: Option<usize>,
    #[serde(skip_serializing_if = "Alerting::is_default")]
    alerting: &'a Alerting,
}

impl<'a> From<&'a Objective> for ObjectiveOut<'a> {
    fn from(objective: &'a Objective) -> Self {
        let (window, calendar) = match objective.window {
            None => (None, None),
            Some(Window::Rolling(duration)) => (Some(config_duration(duration)), None),
            Some(Window::Month) => (None, Some("month")),
            Some(Window::Week) => (None, Some("week")),
        };
        Self {
            name: &objective.name,
            sli: &objective.sli,
            target: objective.target,
            window,
            calendar,
            group_by: &objective.group_by,
            max_groups: objective.max_groups,
            alerting: &objective.alerting,
        }
    }
}

/// `alerting`; each `None` is sloop's default.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Alerting {
    /// Page rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<Vec<BurnRate>>,
    /// Ticket rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<Vec<BurnRate>>,
    /// The fewest events in the long window for a rule to fire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_events: Option<f64>,
}

impl Alerting {
    fn is_default(this: &&Self) -> bool {
        **this == Self::default()
    }
}

/// One multiwindow burn-rate rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnRate {
    /// The long window.
    #[serde(serialize_with = "serialize_duration")]
    pub long: Duration,
    /// The short window.
    #[serde(serialize_with = "serialize_duration")]
    pub short: Duration,
    /// The threshold.
    pub burn_rate: f64,
}

/// A duration as sloop config writes it, in days when it is whole days (`30d`, not `720h`).
pub fn config_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds > 0 && seconds.is_multiple_of(86400) && duration.subsec_nanos() == 0 {
        format!("{}d", seconds / 86400)
    } else {
        crate::confmap::format_duration(duration)
    }
}

fn serialize_duration<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&config_duration(*duration))
}

/// The sloop config `import` writes: `processors.sli` and `processors.slo`.
#[derive(Serialize)]
struct ConfigOut<'a> {
    processors: ProcessorsOut<'a>,
}

#[derive(Serialize)]
struct ProcessorsOut<'a> {
    sli: SliBlock<'a>,
    slo: SloBlock<'a>,
}

#[derive(Serialize)]
struct SliBlock<'a> {
    slis: &'a [Sli],
}

#[derive(Serialize)]
struct SloBlock<'a> {
    objectives: Vec<ObjectiveOut<'a>>,
}

impl SloopObjectives {
    /// The `processors:` section with an `sli` and an `slo` processor, after a comment
    /// header naming the sources and the `notes` (what was left out).
    pub fn to_config_yaml(&self, sources: &[String], notes: &[String]) -> Result<String, String> {
        let body = serde_saphyr::to_string(&ConfigOut {
            processors: ProcessorsOut {
                sli: SliBlock { slis: &self.slis },
                slo: SloBlock {
                    objectives: self.objectives.iter().map(ObjectiveOut::from).collect(),
                },
            },
        })
        .map_err(|e| format!("cannot write the config as YAML: {e}"))?;
        let mut header = format!(
            "# Generated by `sloop slo import` {} from {}.\n\
             # Put the sli and slo processors, in that order, in a traces or logs pipeline:\n\
             #   service.pipelines.traces.processors: [sli, slo]\n",
            env!("CARGO_PKG_VERSION"),
            sources.join(", ")
        );
        for note in notes {
            header.push_str(&format!("# note: {note}\n"));
        }
        Ok(format!("{header}{body}"))
    }

    /// Problems the `sli` and `slo` processors would report for this config, as
    /// (`sli` or `slo`, index of the SLI or objective, path in it, message).
    fn sloop_check(&self) -> Vec<(&'static str, Option<usize>, String, String)> {
        use crate::confmap::parse_block;
        use crate::processors::sli::{CompiledSlis, SliProcessorConfig};
        use crate::processors::slo::SloConfig;
        let mut problems = Vec::new();
        let Ok(yaml) = self.to_config_yaml(&[], &[]) else {
            return problems;
        };
        let dict: Result<figment::value::Dict, _> = figment::Figment::from(
            <serde_saphyr::figment::Yaml as figment::providers::Format>::string(&yaml),
        )
        .extract();
        let Ok(dict) = dict else {
            return problems;
        };
        let processors = dict.get("processors").and_then(|p| p.as_dict());
        let block = |name: &str| processors.and_then(|p| p.get(name)).cloned();
        let mut push = |kind: &'static str, errors: Vec<crate::confmap::ConfigError>| {
            for error in errors {
                let (index, rest) = split_index(&error.path, if kind == "sli" { "slis" } else { "objectives" });
                problems.push((kind, index, rest, error.message.clone()));
            }
        };
        if !self.slis.is_empty() {
            if let Some(value) = block("sli") {
                match parse_block::<SliProcessorConfig>(&value) {
                    Ok(config) => {
                        if let Err(errors) = CompiledSlis::compile(config) {
                            push("sli", errors);
                        }
                    }
                    Err(errors) => push("sli", errors),
                }
            }
        }
        if !self.objectives.is_empty() {
            if let Some(value) = block("slo") {
                if let Err(errors) = parse_block::<SloConfig>(&value) {
                    push("slo", errors);
                }
            }
        }
        problems
    }
}

/// `objectives[3].window` → (Some(3), `window`).
fn split_index(path: &str, list: &str) -> (Option<usize>, String) {
    let Some(rest) = path.strip_prefix(list).and_then(|r| r.strip_prefix('[')) else {
        return (None, path.to_string());
    };
    let Some((index, rest)) = rest.split_once(']') else {
        return (None, path.to_string());
    };
    (index.parse().ok(), rest.trim_start_matches('.').to_string())
}

/// `sloop slo import FILE...`: prints the sloop config, or every error (exit 1);
/// exit 2 when a file cannot be read.
pub fn import_command(files: &[PathBuf]) -> ExitCode {
    if files.is_empty() {
        eprintln!("error: name the OpenSLO files to import (sloop slo import FILE...)");
        return ExitCode::from(2);
    }
    let mut sources = Vec::new();
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => sources.push((file.display().to_string(), text)),
            Err(error) => {
                eprintln!("error: cannot read {}: {error}", file.display());
                return ExitCode::from(2);
            }
        }
    }
    match import(&sources) {
        Ok((objectives, notes)) => {
            let names: Vec<String> = sources.iter().map(|(name, _)| name.clone()).collect();
            match objectives.to_config_yaml(&names, &notes) {
                Ok(yaml) => {
                    print!("{yaml}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(2)
                }
            }
        }
        Err(errors) => {
            eprint!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// `sloop slo export --config FILE [--service NAME]`: prints OpenSLO documents, or
/// the config's errors (exit 1).
pub fn export_command(config: &[PathBuf], service: &str) -> ExitCode {
    let parsed = match crate::config::Config::from_files(config) {
        Ok(parsed) => parsed,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let source = config
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match objectives_of(&parsed).and_then(|objectives| export(&objectives, service, &source)) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Annotations of an exported SLO, in key order.
type Annotations = BTreeMap<String, String>;
