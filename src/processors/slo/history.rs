//! An objective's history over its whole window, minute by minute, from the ring's
//! slices: what `GET /api/v1/slos/{name}/history` serves and the status page draws.
//!
//! The window is the one the status uses: the ring (a rolling window: its oldest
//! minute to now) or the current calendar period. Each [`HistoryPoint`] covers
//! `step` minutes (default 1) and is labelled with its last minute; points end at
//! now, then every `step` minutes back, and the first point is cut at the window's
//! start. For each point:
//!
//! - `good`, `bad`: events counted in the point's minutes;
//! - `error_budget_remaining`: the budget left as of the point's last minute,
//!   counting from the window's start up to that minute, by the status's formula
//!   (the same function computes both): `1 - bad / ((1 - target) * total)`. The last point's
//!   equals the status's `error_budget_remaining`;
//! - `burn_rate`: the burn rate over the hour ending at the point's last minute
//!   ([`HISTORY_BURN_WINDOW`], the window of the status's `burn_rates["1h"]`, which
//!   the last point's equals), `(bad / total) / (1 - target)`, 0 without events.
//!
//! Memory and time are bounded by the window: at most one point per minute of it
//! (43,200 for 30 days), each minute read once plus an hour's minutes per point.
//! The history also lists the objective's most recent bad events (the exemplars
//! kept for `slo.events`), newest first, each linked to a trace backend when the
//! processor has a `trace_url`.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::budget::{budget_remaining, burn, minutes, period_start, window_label, EXHAUSTION_WINDOW};
use super::config::{trace_link, ObjectiveConfig};
use super::ring::{Minute, SliceRing, SLICE_NANOS};
use super::state::BadEvent;

/// The window of each point's `burn_rate`: one hour, as the status's `1h` burn rate.
pub const HISTORY_BURN_WINDOW: Duration = EXHAUSTION_WINDOW;

/// One objective's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    /// Objective name.
    pub slo: String,
    /// Target ratio.
    pub target: f64,
    /// The SLO window: `30d`, `calendar month`.
    pub window: String,
    /// Minutes each point covers.
    pub step_minutes: u64,
    /// The window of each point's burn rate (`1h`).
    pub burn_rate_window: String,
    /// The window's first minute (Unix minutes).
    pub from_minute: Minute,
    /// Now: the last point's minute (Unix minutes).
    pub to_minute: Minute,
    /// Oldest first.
    pub points: Vec<HistoryPoint>,
    /// The most recent bad events, newest first.
    pub recent_bad: Vec<RecentBad>,
}

/// The figures of one point of the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// The point's last minute, in minutes since the Unix epoch (a JavaScript-safe
    /// integer; the page keys its points by it).
    pub minute: Minute,
    /// The same minute's start in Unix nanoseconds.
    pub minute_unix_nano: u64,
    /// Good events in the point's minutes.
    pub good: f64,
    /// Bad events in the point's minutes.
    pub bad: f64,
    /// The budget left as of the point's last minute, from the window's start.
    pub error_budget_remaining: f64,
    /// The burn rate over the hour ending at the point's last minute.
    pub burn_rate: f64,
}

/// A recent bad event, with a link to its trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentBad {
    /// Hex trace id (empty for a log record without one).
    pub trace_id: String,
    /// Hex span id (may be empty).
    pub span_id: String,
    /// When it ended, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// The same instant, RFC 3339 (UTC, milliseconds).
    pub time: String,
    /// Its weight (adjusted count).
    pub weight: f64,
    /// `trace_url` with the trace id filled in (absent without `trace_url` or
    /// without a trace id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_url: Option<String>,
}

/// The window's first minute at `now`: the ring's oldest, or the calendar period's
/// start (never before the ring's oldest).
pub fn window_start(ring: &SliceRing, config: &ObjectiveConfig, now: Minute) -> Minute {
    match config.calendar {
        Some(calendar) => period_start(calendar, now).max(ring.oldest()),
        None => ring.oldest(),
    }
}

/// The points of `ring` (advanced to `now`) over the window, `step` minutes each.
pub fn points(ring: &SliceRing, config: &ObjectiveConfig, now: Minute, step: u64) -> Vec<HistoryPoint> {
    let start = window_start(ring, config, now);
    if now < start {
        return Vec::new();
    }
    let step = step.max(1) as Minute;
    let burn_minutes = minutes(HISTORY_BURN_WINDOW) as Minute;
    // Point ends: now, now - step, ... down to the window's start, oldest first.
    let count = (now - start) / step + 1;
    let ends = (0..count).rev().map(|i| now - i * step);
    let (mut cumulative_good, mut cumulative_bad) = (0.0, 0.0);
    let mut next = start;
    ends.map(|end| {
        let (mut good, mut bad) = (0.0, 0.0);
        for minute in next..=end {
            let (g, b) = ring.at(minute);
            good += g;
            bad += b;
            cumulative_good += g;
            cumulative_bad += b;
        }
        next = end + 1;
        // Summed oldest first from nothing, as the ring's own rolling sums are, so
        // the last point's figures equal the status's exactly.
        let (hour_good, hour_bad) = (end - burn_minutes + 1..=end)
            .map(|m| ring.at(m))
            .fold((0.0, 0.0), |(g, b), (mg, mb)| (g + mg, b + mb));
        HistoryPoint {
            minute: end,
            minute_unix_nano: end.max(0) as u64 * SLICE_NANOS,
            good,
            bad,
            error_budget_remaining: budget_remaining(cumulative_good, cumulative_bad, config.target).1,
            burn_rate: burn(hour_good, hour_bad, config.target),
        }
    })
    .collect()
}

/// Recent bad events, newest (by end time) first, linked with `trace_url` when
/// there is one.
pub fn recent_bad<'a>(events: impl Iterator<Item = &'a BadEvent>, trace_url: Option<&str>) -> Vec<RecentBad> {
    let mut events: Vec<&BadEvent> = events.collect();
    events.sort_by_key(|e| std::cmp::Reverse(e.time_unix_nano));
    events
        .into_iter()
        .map(|e| {
            let trace_id = hex::encode(&e.trace_id);
            let at = UNIX_EPOCH + Duration::from_nanos(e.time_unix_nano);
            RecentBad {
                trace_url: trace_url
                    .filter(|_| !trace_id.is_empty())
                    .map(|template| trace_link(template, &trace_id)),
                trace_id,
                span_id: hex::encode(&e.span_id),
                time_unix_nano: e.time_unix_nano,
                time: humantime::format_rfc3339_millis(at).to_string(),
                weight: e.weight,
            }
        })
        .collect()
}

/// The label of [`HISTORY_BURN_WINDOW`].
pub fn burn_rate_window() -> String {
    window_label(HISTORY_BURN_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::slo::budget::assess;
    use crate::processors::slo::config::{AlertingConfig, BurnRateRule, Calendar};

    /// A 2-hour objective at 90%, with one page rule short enough for the window.
    fn objective() -> ObjectiveConfig {
        ObjectiveConfig {
            name: "checkout".into(),
            sli: "checkout".into(),
            target: 0.9,
            window: Some(Duration::from_secs(2 * 3600)),
            calendar: None,
            group_by: vec![],
            max_groups: 10,
            alerting: AlertingConfig {
                page: vec![BurnRateRule {
                    long: Duration::from_secs(3600),
                    short: Duration::from_secs(300),
                    burn_rate: 2.0,
                }],
                ticket: vec![],
                min_events: 1.0,
            },
            explain: Default::default(),
        }
    }

    /// Worked by hand: a 120-minute ring whose newest minute is 1000 (so the window
    /// is minutes 881..=1000), target 90% (10% of events may be bad):
    /// - minute 900: 10 good, 0 bad; cumulative 10/0, budget 1 - 0/1 = 1;
    /// - minute 950: 5 good, 5 bad; cumulative 15/5, allowed 2, budget 1 - 5/2 = -1.5;
    ///   the hour to 950 (891..=950) holds 15/5: burn (5/20)/0.1 = 2.5;
    /// - minute 1000: 20 good, 0 bad; cumulative 35/5, allowed 4, budget 1 - 5/4 =
    ///   -0.25; the hour to 1000 (941..=1000) holds 25/5: burn (5/30)/0.1 = 5/3.
    #[test]
    fn every_minute_of_a_small_window_by_hand() {
        let config = objective();
        let mut ring = SliceRing::new(config.ring_minutes(), 0);
        ring.add(900, 10.0, 0.0);
        ring.add(950, 5.0, 5.0);
        ring.add(1000, 20.0, 0.0);
        let points = points(&ring, &config, 1000, 1);
        assert_eq!(points.len(), 120, "one point per minute of the 2h window");
        assert_eq!(points[0].minute, 881);
        assert_eq!(points[119].minute, 1000);
        assert_eq!(points[119].minute_unix_nano, 1000 * 60_000_000_000);
        let at = |m: Minute| &points[(m - 881) as usize];
        // Before any event: untouched budget, no burn.
        assert_eq!((at(881).good, at(881).bad), (0.0, 0.0));
        assert_eq!(at(881).error_budget_remaining, 1.0);
        assert_eq!(at(881).burn_rate, 0.0);
        assert_eq!(
            (at(900).good, at(900).bad, at(900).error_budget_remaining),
            (10.0, 0.0, 1.0)
        );
        assert_eq!((at(950).good, at(950).bad), (5.0, 5.0));
        assert_eq!(at(950).error_budget_remaining, 1.0 - 5.0 / ((1.0 - 0.9) * 20.0));
        assert_eq!(at(950).burn_rate, (5.0 / 20.0) / (1.0 - 0.9));
        // Between events the cumulative budget holds; the hour's burn rate too until
        // minute 900 leaves the hour (at 960).
        assert_eq!(at(959).error_budget_remaining, at(950).error_budget_remaining);
        assert_eq!(at(959).burn_rate, at(950).burn_rate);
        assert_eq!(
            at(960).burn_rate,
            (5.0 / 10.0) / (1.0 - 0.9),
            "minute 900 left the hour"
        );
        assert_eq!(at(1000).error_budget_remaining, 1.0 - 5.0 / ((1.0 - 0.9) * 40.0));
        assert_eq!(at(1000).burn_rate, (5.0 / 30.0) / (1.0 - 0.9));
        // The last point is the status.
        let status = assess(&ring, &config, 1000);
        assert_eq!(at(1000).error_budget_remaining, status.error_budget_remaining);
        let hour = status.burn_rates.iter().find(|b| b.window == "1h").unwrap();
        assert_eq!(at(1000).burn_rate, hour.rate);
        assert_eq!(points.iter().map(|p| p.bad).sum::<f64>(), 5.0);
    }

    /// With a step, each point sums its minutes and carries the figures of its last
    /// minute; points end at now and the first is cut at the window's start.
    #[test]
    fn steps_sum_their_minutes_and_end_at_now() {
        let config = objective();
        let mut ring = SliceRing::new(config.ring_minutes(), 0);
        ring.add(900, 10.0, 0.0);
        ring.add(950, 5.0, 5.0);
        ring.add(1000, 20.0, 0.0);
        let every = points(&ring, &config, 1000, 1);
        let stepped = points(&ring, &config, 1000, 7);
        // 120 minutes in steps of 7: 17 whole steps and a first one of 1 minute.
        assert_eq!(stepped.len(), 18);
        assert_eq!(stepped[0].minute, 881, "the first step is cut at the window start");
        assert_eq!(stepped[1].minute, 888);
        for point in &stepped {
            let minute = every.iter().find(|p| p.minute == point.minute).unwrap();
            assert_eq!(point.error_budget_remaining, minute.error_budget_remaining);
            assert_eq!(point.burn_rate, minute.burn_rate);
            let from = (point.minute - 6).max(881);
            let (good, bad) = every
                .iter()
                .filter(|p| p.minute >= from && p.minute <= point.minute)
                .fold((0.0, 0.0), |(g, b), p| (g + p.good, b + p.bad));
            assert_eq!((point.good, point.bad), (good, bad), "minute {}", point.minute);
        }
        assert_eq!(stepped.iter().map(|p| p.good).sum::<f64>(), 35.0);
    }

    /// A calendar window starts at the period's first minute.
    #[test]
    fn a_calendar_window_starts_with_its_period() {
        let mut config = objective();
        config.window = None;
        config.calendar = Some(Calendar::Week);
        // Monday 1970-01-05 00:00 is minute 4 * 1440; now is 90 minutes later.
        let now = 4 * 1440 + 90;
        let mut ring = SliceRing::new(config.ring_minutes(), now);
        ring.add(4 * 1440 - 10, 0.0, 50.0); // Sunday: last week's period
        ring.add(4 * 1440 + 5, 10.0, 0.0);
        let points = points(&ring, &config, now, 1);
        assert_eq!(points.len(), 91);
        assert_eq!(points[0].minute, 4 * 1440);
        assert_eq!(points[90].error_budget_remaining, 1.0, "last week's bad do not count");
        // The burn rate is a rolling hour, as the status's: at minute 5 of the week
        // it still holds Sunday's bad events.
        assert!(points[5].burn_rate > 0.0);
        assert_eq!(
            points[90].error_budget_remaining,
            assess(&ring, &config, now).error_budget_remaining
        );
    }

    #[test]
    fn recent_bad_events_are_newest_first_and_linked() {
        let events = [
            BadEvent {
                trace_id: vec![0xab; 16],
                span_id: vec![1; 8],
                time_unix_nano: 1_000_000_000,
                weight: 1.0,
            },
            BadEvent {
                trace_id: vec![],
                span_id: vec![],
                time_unix_nano: 2_000_000_000,
                weight: 2.0,
            },
            BadEvent {
                trace_id: vec![0xcd; 16],
                span_id: vec![2; 8],
                time_unix_nano: 500_000_000,
                weight: 2.0,
            },
        ];
        let linked = recent_bad(events.iter(), Some("http://jaeger:16686/trace/{trace_id}"));
        assert_eq!(linked.len(), 3);
        assert_eq!(linked[0].trace_id, "", "newest first");
        assert_eq!(
            linked[2].trace_id,
            "cd".repeat(16),
            "oldest last, whatever the order recorded"
        );
        assert_eq!(linked[0].trace_url, None, "no trace id, no link");
        assert_eq!(linked[1].trace_id, "ab".repeat(16));
        assert_eq!(linked[1].span_id, "0101010101010101");
        assert_eq!(linked[1].time, "1970-01-01T00:00:01.000Z");
        assert_eq!(
            linked[1].trace_url.as_deref(),
            Some(format!("http://jaeger:16686/trace/{}", "ab".repeat(16)).as_str())
        );
        assert!(recent_bad(events.iter(), None).iter().all(|e| e.trace_url.is_none()));
    }
}
