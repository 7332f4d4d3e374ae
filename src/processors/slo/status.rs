//! The SLO status the admin API serves (`GET /api/v1/slos[/{name}]`, and as the
//! `sloop.v1` messages over gRPC: see [`super::api`]) and `sloop slo status` and
//! `sloop slo watch` print, and the registry that also answers for each objective's
//! explanation and history.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::budget::{period_start, window_label, BurnRate};
use super::config::Calendar;
use super::explain::Explanation;
use super::history::{self, History};
use super::ring::{minute_of, Minute};
use super::state::ObjectiveHandle;

/// Groups listed as worst offenders per objective (paging groups are listed
/// beyond it).
const WORST_GROUPS: usize = 10;

/// Every objective of every slo processor, by name.
#[derive(Debug, Default)]
pub struct SloRegistry {
    objectives: RwLock<BTreeMap<String, Arc<ObjectiveHandle>>>,
}

/// The state store key of the [`SloRegistry`].
pub const REGISTRY_KEY: &str = "slo/registry";

impl SloRegistry {
    /// The service's registry, kept in its state store so it outlives reloads.
    pub fn of(state: &crate::component::StateStore) -> Arc<SloRegistry> {
        state.claim(REGISTRY_KEY, "", SloRegistry::default).value
    }

    /// Adds an objective, or replaces the handle of the same name: a processor
    /// instance registers its handles when it starts, so after a reload the status
    /// shows the new instance's config (a changed target) and each name once.
    pub fn register(&self, handle: Arc<ObjectiveHandle>) {
        self.objectives
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(handle.config.name.clone(), handle);
    }

    /// Whether `handle` is the one registered under its name: its instance is the
    /// one that reports (emits, checkpoints) the objective. After a reload the
    /// old instance's handles are no longer current.
    pub fn is_current(&self, handle: &Arc<ObjectiveHandle>) -> bool {
        self.objectives
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&handle.config.name)
            .is_some_and(|h| Arc::ptr_eq(h, handle))
    }

    /// Removes `handle` if it is the one registered under its name.
    pub fn unregister(&self, handle: &Arc<ObjectiveHandle>) {
        let mut objectives = self.objectives.write().unwrap_or_else(|p| p.into_inner());
        if objectives
            .get(&handle.config.name)
            .is_some_and(|h| Arc::ptr_eq(h, handle))
        {
            objectives.remove(&handle.config.name);
        }
    }

    /// The status of every objective at `now`.
    pub fn statuses(&self, now: Minute) -> Vec<SloStatus> {
        let handles: Vec<_> = self
            .objectives
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        handles.iter().map(|h| status(h, now)).collect()
    }

    /// The status of one objective.
    pub fn status(&self, name: &str, now: Minute) -> Option<SloStatus> {
        self.handle(name).map(|h| status(&h, now))
    }

    /// The handle registered under `name`.
    fn handle(&self, name: &str) -> Option<Arc<ObjectiveHandle>> {
        self.objectives
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// The history of objective `name` at `now` (see [`history`]),
    /// in points of `step` (default: a minute). `None` when there is no such
    /// objective; an error when the step is not whole minutes from `1m` up to the
    /// SLO window.
    pub fn history(
        &self,
        name: &str,
        step: Option<std::time::Duration>,
        now: Minute,
    ) -> Option<Result<History, String>> {
        let handle = self.handle(name)?;
        let config = &handle.config;
        let step_minutes = match step {
            None => 1,
            Some(step) => {
                let minutes = step.as_secs() / 60;
                if step.as_secs() % 60 != 0 || step.subsec_nanos() != 0 || minutes == 0 {
                    return Some(Err(format!(
                        "step {} is not a whole number of minutes (at least 1m)",
                        crate::confmap::format_duration(step)
                    )));
                }
                if minutes > config.ring_minutes() as u64 {
                    return Some(Err(format!(
                        "step {} is longer than the SLO window of {name:?} ({})",
                        window_label(step),
                        window_name(config)
                    )));
                }
                minutes
            }
        };
        // A copy of the ring (16 bytes a minute) is taken under the lock and the
        // points are derived from it after, so counting never waits on a history.
        let (ring, recent) = {
            let mut state = handle.lock();
            state.advance(now);
            (state.overall.ring.clone(), state.overall.recent_bad.clone())
        };
        let ring = &ring;
        Some(Ok(History {
            slo: config.name.clone(),
            target: config.target,
            window: window_name(config),
            step_minutes,
            burn_rate_window: history::burn_rate_window(),
            from_minute: history::window_start(ring, config, now),
            to_minute: now,
            points: history::points(ring, config, now, step_minutes),
            recent_bad: history::recent_bad(recent.iter(), handle.trace_url.as_deref()),
        }))
    }

    /// What the bad events of objective `name` have in common over `window` ending
    /// at `now_unix_nano` (default: the SLO window). `None` when there is no such
    /// objective; an error when the window is under a minute or longer than the SLO
    /// window.
    pub fn explain(
        &self,
        name: &str,
        window: Option<std::time::Duration>,
        now_unix_nano: u64,
    ) -> Option<Result<Explanation, String>> {
        let handle = self.handle(name)?;
        let config = &handle.config;
        let now = minute_of(now_unix_nano);
        let span_minutes = config.ring_minutes() as Minute;
        let (label, minutes) = match window {
            Some(window) => {
                let minutes = window.as_secs().div_ceil(60) as Minute;
                if window < std::time::Duration::from_secs(60) {
                    return Some(Err(format!(
                        "window {} is shorter than a minute",
                        crate::confmap::format_duration(window)
                    )));
                }
                if minutes > span_minutes {
                    return Some(Err(format!(
                        "window {} is longer than the SLO window of {name:?} ({})",
                        window_label(window),
                        window_name(config)
                    )));
                }
                (window_label(window), minutes)
            }
            None => {
                let minutes = match config.calendar {
                    Some(calendar) => now - period_start(calendar, now) + 1,
                    None => span_minutes,
                };
                (window_name(config), minutes)
            }
        };
        let state = handle.lock();
        Some(Ok(state.explain.explain(
            name,
            config.target,
            label,
            minutes,
            now,
            now_unix_nano,
        )))
    }
}

/// An objective's window as the status shows it: `30d`, `calendar month`.
fn window_name(config: &super::config::ObjectiveConfig) -> String {
    match config.calendar {
        Some(Calendar::Month) => "calendar month".into(),
        Some(Calendar::Week) => "calendar week".into(),
        None => window_label(config.window.unwrap_or(super::config::DEFAULT_WINDOW)),
    }
}

/// One objective's figures, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloStatus {
    /// Objective name.
    pub name: String,
    /// The SLI it counts.
    pub sli: String,
    /// Target ratio.
    pub target: f64,
    /// `30d` (rolling) or `calendar month` / `calendar week`.
    pub window: String,
    /// The objective as a whole.
    #[serde(flatten)]
    pub figures: Figures,
    /// Groups with the least budget left, worst first (with `group_by`): the
    /// first ten, and every paging group after them, so a deploy gate on segments
    /// sees each one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worst_groups: Vec<GroupStatus>,
    /// How many groups page (with `group_by`; 0 without).
    #[serde(default)]
    pub paging_groups: usize,
}

/// The figures of an objective or one group of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Weighted events in the window.
    pub total: f64,
    /// Good events in the window.
    pub good: f64,
    /// Bad events in the window.
    pub bad: f64,
    /// Bad events the target allows over this traffic.
    pub allowed_bad: f64,
    /// 1 untouched, 0 exhausted, negative overspent.
    pub error_budget_remaining: f64,
    /// Burn rate by window label.
    pub burn_rates: BTreeMap<String, f64>,
    /// Seconds until exhaustion at the last hour's rate, if burning.
    pub exhaustion_seconds: Option<f64>,
    /// Firing alerts.
    pub alerts: Alerts,
}

/// Alert state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alerts {
    /// A page rule fires.
    pub page: bool,
    /// A ticket rule fires.
    pub ticket: bool,
}

/// One group's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStatus {
    /// `group_by` attribute -> value.
    pub group: BTreeMap<String, String>,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

fn figures(a: &super::budget::Assessment) -> Figures {
    Figures {
        total: a.total,
        good: a.good,
        bad: a.bad,
        allowed_bad: a.allowed_bad,
        error_budget_remaining: a.error_budget_remaining,
        burn_rates: a
            .burn_rates
            .iter()
            .map(|BurnRate { window, rate, .. }| (window.clone(), *rate))
            .collect(),
        exhaustion_seconds: a.exhaustion_seconds,
        alerts: Alerts {
            page: a.page,
            ticket: a.ticket,
        },
    }
}

fn status(handle: &ObjectiveHandle, now: Minute) -> SloStatus {
    let config = &handle.config;
    let (overall, groups) = handle.assess(now);
    let mut worst: Vec<GroupStatus> = groups
        .iter()
        .map(|(values, a)| GroupStatus {
            group: config.group_by.iter().cloned().zip(values.iter().cloned()).collect(),
            figures: figures(a),
        })
        .collect();
    worst.sort_by(|a, b| {
        a.figures
            .error_budget_remaining
            .total_cmp(&b.figures.error_budget_remaining)
    });
    let paging_groups = worst.iter().filter(|g| g.figures.alerts.page).count();
    // Kept in budget order; a paging group is never cut off.
    let mut listed = 0;
    worst.retain(|g| {
        listed += 1;
        listed <= WORST_GROUPS || g.figures.alerts.page
    });
    SloStatus {
        name: config.name.clone(),
        sli: config.sli.clone(),
        target: config.target,
        window: window_name(config),
        figures: figures(&overall),
        worst_groups: worst,
        paging_groups,
    }
}

/// Why a deploy gate should stop: for each SLO, an exhausted budget or a page alert.
pub fn gate_failures(statuses: &[SloStatus]) -> Vec<String> {
    let mut failures = Vec::new();
    for s in statuses {
        if s.figures.total > 0.0 && s.figures.error_budget_remaining <= 0.0 {
            failures.push(format!(
                "{}: error budget exhausted ({:.1}% left)",
                s.name,
                s.figures.error_budget_remaining * 100.0
            ));
        }
        if s.figures.alerts.page {
            failures.push(format!("{}: page alert firing (fast burn)", s.name));
        }
    }
    failures
}

/// Why a deploy gate on segments (`sloop slo status --segments`) should stop:
/// for each SLO, its paging groups.
pub fn segment_gate_failures(statuses: &[SloStatus]) -> Vec<String> {
    let mut failures = Vec::new();
    for s in statuses {
        if s.paging_groups == 0 {
            continue;
        }
        let named: Vec<String> = s
            .worst_groups
            .iter()
            .filter(|g| g.figures.alerts.page)
            .map(|g| group_name(&g.group))
            .collect();
        failures.push(format!(
            "{}: page alert firing in {} segment(s): {}",
            s.name,
            s.paging_groups,
            named.join("; ")
        ));
    }
    failures
}

/// A group as `key=value,key=value`.
fn group_name(group: &BTreeMap<String, String>) -> String {
    group
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn human_duration(seconds: f64) -> String {
    match seconds {
        s if s <= 0.0 => "now".into(),
        s if s < 3600.0 => format!("{:.0}m", s / 60.0),
        s if s < 172_800.0 => format!("{:.1}h", s / 3600.0),
        s => format!("{:.1}d", s / 86400.0),
    }
}

/// One line for a status that changed at `at`, for `sloop slo watch`: the time,
/// the name, then `key=value` figures (the table's columns), the firing alert and,
/// with `group_by`, how many segments page and the worst one.
pub fn render_change(s: &SloStatus, at: std::time::SystemTime) -> String {
    let f = &s.figures;
    let mut line = format!(
        "{} {} events={:.0} bad={:.0} budget_left={:.1}% burn_1h={} exhausted_in={} alert={}",
        humantime::format_rfc3339_seconds(at),
        s.name,
        f.total,
        f.bad,
        f.error_budget_remaining * 100.0,
        f.burn_rates.get("1h").map_or("-".into(), |r| format!("{r:.2}")),
        f.exhaustion_seconds.map_or("-".into(), human_duration),
        alert_name(&f.alerts),
    );
    if let Some(worst) = s.worst_groups.first() {
        line.push_str(&format!(
            " paging_segments={} worst_segment={} ({:.1}% left, alert={})",
            s.paging_groups,
            group_name(&worst.group),
            worst.figures.error_budget_remaining * 100.0,
            alert_name(&worst.figures.alerts)
        ));
    }
    line
}

/// The firing alert as the table shows it: `PAGE`, `ticket` or `-`.
fn alert_name(alerts: &Alerts) -> &'static str {
    match (alerts.page, alerts.ticket) {
        (true, _) => "PAGE",
        (false, true) => "ticket",
        _ => "-",
    }
}

/// A fixed-width table of SLOs, for `sloop slo status`.
pub fn render_table(statuses: &[SloStatus]) -> String {
    let mut rows = vec![[
        "NAME".to_string(),
        "TARGET".into(),
        "WINDOW".into(),
        "EVENTS".into(),
        "BAD".into(),
        "BUDGET LEFT".into(),
        "BURN 1H".into(),
        "EXHAUSTED IN".into(),
        "ALERT".into(),
    ]];
    for s in statuses {
        let f = &s.figures;
        let alert = alert_name(&f.alerts);
        rows.push([
            s.name.clone(),
            format!("{}%", s.target * 100.0),
            s.window.clone(),
            format!("{:.0}", f.total),
            format!("{:.0}", f.bad),
            format!("{:.1}%", f.error_budget_remaining * 100.0),
            f.burn_rates.get("1h").map_or("-".into(), |r| format!("{r:.2}")),
            f.exhaustion_seconds.map_or("-".into(), human_duration),
            alert.into(),
        ]);
        for g in &s.worst_groups {
            let name = group_name(&g.group);
            rows.push([
                format!("  {name}"),
                String::new(),
                String::new(),
                format!("{:.0}", g.figures.total),
                format!("{:.0}", g.figures.bad),
                format!("{:.1}%", g.figures.error_budget_remaining * 100.0),
                g.figures.burn_rates.get("1h").map_or("-".into(), |r| format!("{r:.2}")),
                g.figures.exhaustion_seconds.map_or("-".into(), human_duration),
                alert_name(&g.figures.alerts).into(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..9)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(total: f64, bad: f64, page: bool) -> Figures {
        Figures {
            total,
            good: total - bad,
            bad,
            allowed_bad: 0.01 * total,
            error_budget_remaining: 1.0 - bad / (0.01 * total),
            burn_rates: BTreeMap::from([("1h".to_string(), bad / total / 0.01)]),
            exhaustion_seconds: page.then_some(0.0),
            alerts: Alerts { page, ticket: page },
        }
    }

    /// `sloop slo watch`: one line per change, with the table's figures and, with
    /// groups, the worst one.
    #[test]
    fn a_change_is_one_line() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let mut status = SloStatus {
            name: "homepage".into(),
            sli: "homepage".into(),
            target: 0.99,
            window: "30d".into(),
            figures: figures(150.0, 50.0, true),
            worst_groups: Vec::new(),
            paging_groups: 0,
        };
        assert_eq!(
            render_change(&status, at),
            "2027-01-15T08:00:00Z homepage events=150 bad=50 budget_left=-3233.3% burn_1h=33.33 \
             exhausted_in=now alert=PAGE"
        );
        status.worst_groups.push(GroupStatus {
            group: BTreeMap::from([("customer.segment".to_string(), "gold".to_string())]),
            figures: figures(110.0, 50.0, true),
        });
        status.paging_groups = 1;
        let line = render_change(&status, at);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.ends_with(" paging_segments=1 worst_segment=customer.segment=gold (-4445.5% left, alert=PAGE)"),
            "{line}"
        );
    }
}
