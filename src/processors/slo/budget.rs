//! Error-budget arithmetic over a [`SliceRing`]: budget remaining, burn rates, time
//! to exhaustion and multiwindow, multi-burn-rate alert state (SRE Workbook, ch. 5).
//!
//! - `allowed_bad = (1 - target) * total`
//! - `error_budget_remaining = 1 - bad / allowed_bad` (1 with no events; negative once overspent)
//! - `burn_rate(w) = (bad_w / total_w) / (1 - target)`
//! - `time_to_exhaustion = (allowed_bad - bad) / (bad events per second over the last hour)`
//! - a rule fires when `burn_rate(long) > threshold` and `burn_rate(short) > threshold`
//!   and the long window holds at least `min_events` events.

use std::time::Duration;

use serde::Serialize;

use super::config::{BurnRateRule, Calendar, ObjectiveConfig};
use super::ring::{Minute, SliceRing};

/// The window that time to exhaustion extrapolates from.
pub const EXHAUSTION_WINDOW: Duration = Duration::from_secs(3600);

/// Everything derived for one objective (or one group of it) at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// Weighted good events in the SLO window.
    pub good: f64,
    /// Weighted bad events in the SLO window.
    pub bad: f64,
    /// `good + bad`.
    pub total: f64,
    /// Bad events the objective allows over the window's traffic.
    pub allowed_bad: f64,
    /// `1 - bad / allowed_bad`: 1 untouched, 0 exhausted, negative overspent.
    pub error_budget_remaining: f64,
    /// Burn rate per alerting window (and 1h), shortest first.
    pub burn_rates: Vec<BurnRate>,
    /// Seconds until the budget is gone at the last hour's bad-event rate; `None`
    /// when nothing bad happened in the last hour.
    pub exhaustion_seconds: Option<f64>,
    /// Whether any page rule fires.
    pub page: bool,
    /// Whether any ticket rule fires.
    pub ticket: bool,
}

/// The burn rate over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnRate {
    /// `5m`, `1h`, `3d`, ...
    pub window: String,
    /// Window length in seconds.
    pub seconds: u64,
    /// `(bad / total) / (1 - target)`; 0 without events.
    pub rate: f64,
    /// Weighted events in the window.
    pub events: f64,
}

/// A window label as the Workbook writes them: `5m`, `1h`, `3d`.
pub fn window_label(window: Duration) -> String {
    let s = window.as_secs();
    match s {
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A window's length in whole minutes (at least 1).
pub fn minutes(window: Duration) -> usize {
    (window.as_secs() / 60).max(1) as usize
}

/// `(bad / total) / (1 - target)`; 0 without events.
pub fn burn(good: f64, bad: f64, target: f64) -> f64 {
    let total = good + bad;
    if total <= 0.0 {
        0.0
    } else {
        (bad / total) / (1.0 - target)
    }
}

/// The first minute of the calendar period containing `now`.
pub fn period_start(calendar: Calendar, now: Minute) -> Minute {
    let day = now.div_euclid(1440);
    let start_day = match calendar {
        // 1970-01-01 was a Thursday: Monday is 3 days before a Thursday.
        Calendar::Week => day - (day + 3).rem_euclid(7),
        Calendar::Month => {
            let (year, month, _) = civil_from_days(day);
            days_from_civil(year, month, 1)
        }
    };
    start_day * 1440
}

/// Howard Hinnant's civil-from-days: (year, month 1-12, day 1-31) of a day number.
/// Written here because it is a dozen lines and the only date arithmetic sloop needs.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day number of a civil date (inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(allowed_bad, error_budget_remaining)` of `good` and `bad` events under
/// `target`: `allowed_bad = (1 - target) * total`, and `1 - bad / allowed_bad`
/// (1 when nothing is allowed yet, i.e. no events).
pub fn budget_remaining(good: f64, bad: f64, target: f64) -> (f64, f64) {
    let allowed_bad = (1.0 - target) * (good + bad);
    let remaining = if allowed_bad > 0.0 {
        1.0 - bad / allowed_bad
    } else {
        1.0
    };
    (allowed_bad, remaining)
}

/// Derives everything for `ring` at minute `now` (the ring must have been advanced
/// to `now`).
pub fn assess(ring: &SliceRing, objective: &ObjectiveConfig, now: Minute) -> Assessment {
    let target = objective.target;
    let (good, bad) = match objective.calendar {
        Some(calendar) => ring.sum_since(period_start(calendar, now)),
        None => ring.totals(),
    };
    let total = good + bad;
    let (allowed_bad, error_budget_remaining) = budget_remaining(good, bad, target);

    let mut windows: Vec<Duration> = objective
        .alerting
        .page
        .iter()
        .chain(&objective.alerting.ticket)
        .flat_map(|r| [r.short, r.long])
        .chain([EXHAUSTION_WINDOW])
        .collect();
    windows.sort();
    windows.dedup();
    let burn_rates = windows
        .iter()
        .map(|w| {
            let (g, b) = ring.sum_last(minutes(*w));
            BurnRate {
                window: window_label(*w),
                seconds: w.as_secs(),
                rate: burn(g, b, target),
                events: g + b,
            }
        })
        .collect();

    let (_, bad_last_hour) = ring.sum_last(minutes(EXHAUSTION_WINDOW));
    let remaining_bad = allowed_bad - bad;
    let exhaustion_seconds = if remaining_bad <= 0.0 && total > 0.0 {
        Some(0.0)
    } else if bad_last_hour > 0.0 {
        Some(remaining_bad / (bad_last_hour / EXHAUSTION_WINDOW.as_secs_f64()))
    } else {
        None
    };

    let mut assessment = Assessment {
        good,
        bad,
        total,
        allowed_bad,
        error_budget_remaining,
        burn_rates,
        exhaustion_seconds,
        page: false,
        ticket: false,
    };
    let alerting = &objective.alerting;
    assessment.page = alerting.page.iter().any(|r| assessment.fires(r, alerting.min_events));
    assessment.ticket = alerting.ticket.iter().any(|r| assessment.fires(r, alerting.min_events));
    assessment
}

impl Assessment {
    /// The burn rate and event count over `window`: `(0, 0)` for a window that is
    /// not among the objective's rule windows and 1h, which [`assess`] computes.
    pub fn burn_over(&self, window: Duration) -> (f64, f64) {
        self.burn_rates
            .iter()
            .find(|b| b.seconds == window.as_secs())
            .map_or((0.0, 0.0), |b| (b.rate, b.events))
    }

    /// Whether `rule` fires: at least `min_events` in its long window, and both its
    /// windows burning faster than its threshold. `page` and `ticket` say whether any
    /// rule of theirs fires; an Alertmanager alert names its rule, so it asks per rule.
    pub fn fires(&self, rule: &BurnRateRule, min_events: f64) -> bool {
        let (long, long_events) = self.burn_over(rule.long);
        let (short, _) = self.burn_over(rule.short);
        long_events >= min_events && long > rule.burn_rate && short > rule.burn_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::slo::config::{AlertingConfig, BurnRateRule};

    fn objective(target: f64) -> ObjectiveConfig {
        ObjectiveConfig {
            name: "homepage".into(),
            sli: "homepage".into(),
            target,
            window: None,
            calendar: None,
            group_by: vec![],
            max_groups: 10,
            alerting: AlertingConfig::default(),
            explain: Default::default(),
        }
    }

    /// The worked example: 1,000,000 eligible events over 30 days at 99.9% allow
    /// 1,000 bad events; at 100 bad events per hour the budget lasts 10 hours.
    #[test]
    fn worked_example_budget_and_exhaustion() {
        let objective = objective(0.999);
        let minutes_30d = 30 * 1440;
        let mut ring = SliceRing::new(objective.ring_minutes(), 0);
        // 1,000,000 good events spread over the 30 days: 23 or 24 per minute.
        let per_minute = |m: i64| 23.0 + if m % 27 < 4 { 1.0 } else { 0.0 };
        for m in 0..minutes_30d {
            ring.add(m, per_minute(m), 0.0);
        }
        let mut now = minutes_30d - 1;
        let fresh = assess(&ring, &objective, now);
        assert_eq!(fresh.total, 1_000_000.0);
        assert!((fresh.allowed_bad - 1000.0).abs() < 1e-6, "{}", fresh.allowed_bad);
        assert_eq!(fresh.error_budget_remaining, 1.0);
        assert_eq!(fresh.exhaustion_seconds, None);

        // From now on 100 of each hour's events are bad (one every 36 seconds,
        // as 5 bad in each of 20 minutes per hour), traffic otherwise unchanged.
        for hour in 1..=10 {
            for minute in 0..60 {
                now += 1;
                let bad = if minute % 3 == 0 { 5.0 } else { 0.0 };
                ring.add(now, per_minute(now) - bad, bad);
            }
            let a = assess(&ring, &objective, now);
            let hours_left = a.exhaustion_seconds.unwrap() / 3600.0;
            // Exhausted 10 hours after the burn began: after `hour` hours, 10 - hour remain.
            assert!(
                (hours_left - (10 - hour) as f64).abs() < 0.01,
                "hour {hour}: {hours_left} h left"
            );
            let remaining = 1.0 - (100.0 * hour as f64) / 1000.0;
            assert!(
                (a.error_budget_remaining - remaining).abs() < 0.001,
                "hour {hour}: {}",
                a.error_budget_remaining
            );
            // The 1h burn rate: 100 bad of ~1389 events (1380-1392 with this spread),
            // over a 0.1% allowance = ~72, which spends a full 30-day budget in
            // 720h / 72 = 10h.
            let burn_1h = a.burn_rates.iter().find(|b| b.window == "1h").unwrap();
            let expected = (100.0 / burn_1h.events) / 0.001;
            assert!((burn_1h.rate - expected).abs() < 1e-9);
            assert!((720.0 / burn_1h.rate - 10.0).abs() < 0.1, "burn {}", burn_1h.rate);
        }
    }

    /// An independent reading of the Workbook's rule, from per-minute counts.
    fn workbook_fires(history: &[(f64, f64)], rule: &BurnRateRule, target: f64, min_events: f64) -> bool {
        let sum = |window: Duration| {
            let n = (window.as_secs() / 60) as usize;
            history
                .iter()
                .rev()
                .take(n)
                .fold((0.0, 0.0), |(g, b), (mg, mb)| (g + mg, b + mb))
        };
        let rate = |(g, b): (f64, f64)| if g + b > 0.0 { b / (g + b) / (1.0 - target) } else { 0.0 };
        let long = sum(rule.long);
        long.0 + long.1 >= min_events && rate(long) > rule.burn_rate && rate(sum(rule.short)) > rule.burn_rate
    }

    #[test]
    fn alerts_fire_and_clear_exactly_when_the_workbook_says() {
        let objective = objective(0.999);
        let alerting = &objective.alerting;
        let mut ring = SliceRing::new(objective.ring_minutes(), 0);
        let mut history = Vec::new();
        // 2h clean, 90 min at 2% errors, 1h clean, 20 min at 100% errors, 7h clean
        // (the 3d/6h ticket rule clears once its 6h short window is clean).
        let phases: [(usize, f64); 5] = [(120, 0.0), (90, 0.02), (60, 0.0), (20, 1.0), (420, 0.0)];
        let mut minute = 0;
        let (mut page_changes, mut ticket_changes) = (0, 0);
        let (mut last_page, mut last_ticket) = (false, false);
        for (length, error_ratio) in phases {
            for _ in 0..length {
                let bad = 100.0 * error_ratio;
                ring.add(minute, 100.0 - bad, bad);
                history.push((100.0 - bad, bad));
                let a = assess(&ring, &objective, minute);
                let page = alerting
                    .page
                    .iter()
                    .any(|r| workbook_fires(&history, r, 0.999, alerting.min_events));
                let ticket = alerting
                    .ticket
                    .iter()
                    .any(|r| workbook_fires(&history, r, 0.999, alerting.min_events));
                assert_eq!((a.page, a.ticket), (page, ticket), "minute {minute}");
                page_changes += usize::from(page != last_page);
                ticket_changes += usize::from(ticket != last_ticket);
                (last_page, last_ticket) = (page, ticket);
                minute += 1;
            }
        }
        // The stream exercises both severities firing and clearing.
        assert!(
            page_changes >= 2 && ticket_changes >= 2,
            "page {page_changes}, ticket {ticket_changes}"
        );
        assert!(!last_page && !last_ticket, "both cleared after 7h clean");
    }

    #[test]
    fn page_fires_at_the_predicted_minute() {
        // After 60 clean minutes at 100 events/min, errors jump to 2%. The 6h/30m rule
        // (threshold 6, i.e. 0.6% errors) needs 2m / ((60 + m) * 100) > 0.006, so it
        // fires at m = 26 (m counted from 1); the 1h/5m rule (1.44%) would need m = 44.
        let objective = objective(0.999);
        let mut ring = SliceRing::new(objective.ring_minutes(), 0);
        for minute in 0..60 {
            ring.add(minute, 100.0, 0.0);
        }
        let mut fired_at = None;
        for m in 1..=50 {
            let minute = 59 + m;
            ring.add(minute, 98.0, 2.0);
            if assess(&ring, &objective, minute).page && fired_at.is_none() {
                fired_at = Some(m);
            }
        }
        assert_eq!(fired_at, Some(26));
    }

    #[test]
    fn min_events_suppresses_alerts_on_tiny_traffic() {
        let mut objective = objective(0.999);
        let mut ring = SliceRing::new(objective.ring_minutes(), 0);
        // One bad request in an otherwise idle hour: every burn rate is 1000.
        ring.add(0, 0.0, 1.0);
        objective.alerting.min_events = 10.0;
        assert!(!assess(&ring, &objective, 0).page);
        objective.alerting.min_events = 1.0;
        assert!(assess(&ring, &objective, 0).page);
    }

    #[test]
    fn calendar_periods_start_on_the_first_and_on_monday() {
        // 2026-11-25 12:00 UTC is a Wednesday.
        let day = days_from_civil(2026, 11, 25);
        let now = day * 1440 + 720;
        assert_eq!(period_start(Calendar::Month, now), days_from_civil(2026, 11, 1) * 1440);
        assert_eq!(period_start(Calendar::Week, now), days_from_civil(2026, 11, 23) * 1440);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    #[test]
    fn window_labels() {
        assert_eq!(window_label(Duration::from_secs(300)), "5m");
        assert_eq!(window_label(Duration::from_secs(7200)), "2h");
        assert_eq!(window_label(Duration::from_secs(3 * 86400)), "3d");
    }
}
