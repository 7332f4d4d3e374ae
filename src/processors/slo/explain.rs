//! "Why is it burning": the attribute values over-represented among an objective's
//! bad events, compared with all its eligible (classified) events, and the share of
//! the error budget each one consumed.
//!
//! ```yaml
//! processors:
//!   slo:
//!     objectives:
//!       - name: checkout-availability
//!         sli: checkout
//!         target: 0.999
//!         explain:
//!           attributes: [service.version, cloud.region, http.route]
//!           max_values: 64
//! ```
//!
//! ## What is kept
//!
//! For every attribute key in `explain.attributes` (span or log attributes first,
//! then resource attributes, as `group_by` looks them up), a heavy-hitter sketch of
//! the values the objective's counted events had, with each value's eligible weight
//! and bad weight (adjusted counts, as the ring counts them). Events without the
//! attribute, or with an empty value, count in the totals but for no value.
//!
//! The sketch is Space-Saving (Metwally et al., 2005) over eligible weight, with
//! `max_values` entries per key: **exact** while a key has at most `max_values`
//! distinct values in a bucket. Past that, an untracked value replaces the entry with
//! the least weight and inherits its counts as an over-estimate; the value is then
//! reported with `exact: false`. Any value holding more than `1/max_values` of a
//! bucket's events is guaranteed to be tracked, with counts over-estimated by at most
//! `1/max_values` of the bucket's events. Eviction scans the entries (O(`max_values`),
//! hence its cap of 1000); recording a value already tracked is a hash lookup and does
//! not allocate.
//!
//! ## Time buckets
//!
//! Sketches are kept per time bucket, so a query over a window merges the buckets
//! that cover it:
//! - **hourly** buckets for the last 24 hours (25 buckets: the current, partial hour
//!   and the 24 before it), used for windows up to `1d`;
//! - **daily** buckets (UTC days) over the whole SLO window (one more than its days),
//!   used for longer windows, such as the default: the SLO window itself.
//!
//! Every event is recorded in its hour's and its day's bucket. A window is rounded
//! out to whole buckets: `window=1h` covers the current hour and the one before it
//! (up to 2 hours), `window=7d` covers up to 8 UTC days. The answer gives the span it
//! covers (`from_unix_nano`, `to_unix_nano`) and its totals, which are exact whatever
//! the sketches hold; shares are of those totals.
//!
//! Memory per objective is bounded by keys × `max_values` × buckets entries of about
//! 100 bytes: the defaults (10 keys, 64 values, 25 + 31 buckets for 30 days) are at
//! most about 3.5 MiB, reached only when every key has 64 distinct values in every
//! bucket. The sketches live in memory: after a restart they start empty, while the
//! budget itself survives through `storage`.
//!
//! ## Ranking
//!
//! Values are ranked by how over-represented they are among bad events:
//! `bad_share - total_share` (the share of the window's bad weight a value holds, less
//! its share of all eligible weight), the comparison of the bad and the overall
//! distribution that Honeycomb's BubbleUp draws. Values that are not over-represented
//! (a score of 0 or less: they fail no more often than the objective as a whole)
//! explain nothing and are left out; at most [`MAX_EXPLAINED`] values are listed.
//! `budget_share` is `bad / allowed_bad`, with `allowed_bad = (1 - target) × total`
//! over the same span: 0.62 means the value spent 62% of the budget that window's
//! traffic allowed.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::config::{ExplainConfig, ObjectiveConfig};
use super::ring::{Minute, SLICE_NANOS};
use super::state::{write_group_key, Event};

/// Most values an explanation lists.
pub const MAX_EXPLAINED: usize = 20;

/// Hourly buckets kept: the current hour and the 24 before it.
pub const HOUR_BUCKETS: i64 = 25;

const MINUTES_PER_HOUR: Minute = 60;
const MINUTES_PER_DAY: Minute = 1440;

/// The longest window answered from hourly buckets.
const HOURLY_UP_TO_MINUTES: Minute = MINUTES_PER_DAY;

/// What one value of one key has counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counts {
    /// Eligible weight (may include `total_error` inherited on admission).
    total: f64,
    /// Bad weight (may include `bad_error` inherited on admission).
    bad: f64,
}

/// A Space-Saving sketch of one attribute key's values, over eligible weight.
///
/// Written here rather than taken from a crate: it keeps two weights per value
/// (eligible and bad) and says whether it ever evicted, which the ranking and the
/// `exact` flag need; it is a hash map and a minimum scan.
#[derive(Debug, Clone)]
struct ValueSketch {
    values: HashMap<Box<str>, Counts>,
    /// Whether a value was ever evicted: counts may then be over-estimates.
    evicted: bool,
}

impl ValueSketch {
    fn new() -> Self {
        Self {
            values: HashMap::new(),
            evicted: false,
        }
    }

    /// Counts `weight` for `value` (bad too when `bad`), keeping at most `capacity`
    /// values.
    fn add(&mut self, value: &str, bad: bool, weight: f64, capacity: usize) {
        let bad_weight = if bad { weight } else { 0.0 };
        if let Some(counts) = self.values.get_mut(value) {
            counts.total += weight;
            counts.bad += bad_weight;
            return;
        }
        let mut admitted = Counts {
            total: weight,
            bad: bad_weight,
        };
        if self.values.len() >= capacity.max(1) {
            // Space-Saving: the newcomer takes the place of the lightest value and
            // inherits its counts, so no value is ever under-counted.
            let lightest = self
                .values
                .iter()
                .min_by(|a, b| a.1.total.total_cmp(&b.1.total))
                .map(|(value, _)| value.clone());
            if let Some(lightest) = lightest {
                if let Some(evicted) = self.values.remove(&lightest) {
                    admitted.total += evicted.total;
                    admitted.bad += evicted.bad;
                }
            }
            self.evicted = true;
        }
        self.values.insert(value.into(), admitted);
    }
}

/// The events of one hour or one day.
#[derive(Debug, Clone)]
struct Bucket {
    /// Eligible weight: exact, whatever the sketches hold.
    total: f64,
    /// Bad weight: exact.
    bad: f64,
    /// One sketch per `explain.attributes` key, in order.
    keys: Vec<ValueSketch>,
}

impl Bucket {
    fn new(keys: usize) -> Self {
        Self {
            total: 0.0,
            bad: 0.0,
            keys: (0..keys).map(|_| ValueSketch::new()).collect(),
        }
    }
}

/// Buckets of one granularity, by bucket number (minutes since the epoch divided by
/// the bucket's minutes), at most `keep` of them ending at the newest.
#[derive(Debug, Clone)]
struct BucketSeries {
    minutes: Minute,
    keep: i64,
    buckets: BTreeMap<i64, Bucket>,
}

impl BucketSeries {
    fn new(minutes: Minute, keep: i64) -> Self {
        Self {
            minutes,
            keep: keep.max(1),
            buckets: BTreeMap::new(),
        }
    }

    /// The bucket for `minute`, created if it is within the kept span; buckets that
    /// a new newest bucket pushes out of the span are dropped.
    fn bucket_mut(&mut self, minute: Minute, keys: usize) -> Option<&mut Bucket> {
        let index = minute.div_euclid(self.minutes);
        let newest = self.buckets.last_key_value().map_or(index, |(&n, _)| n.max(index));
        let oldest = newest - self.keep + 1;
        if index < oldest {
            return None;
        }
        if let Entry::Vacant(slot) = self.buckets.entry(index) {
            slot.insert(Bucket::new(keys));
            // Keep only the span ending at the newest bucket.
            self.buckets = self.buckets.split_off(&oldest);
        }
        self.buckets.get_mut(&index)
    }

    /// The buckets numbered `from ..= to`.
    fn covering(&self, from: i64, to: i64) -> impl Iterator<Item = &Bucket> {
        self.buckets.range(from..=to.max(from)).map(|(_, b)| b)
    }
}

/// One objective's explain sketches: hourly and daily buckets of per-key sketches.
#[derive(Debug, Clone)]
pub struct ExplainState {
    /// The config they were counted under.
    config: ExplainConfig,
    hours: BucketSeries,
    days: BucketSeries,
    /// The value of the key being recorded, formatted here: one buffer for every
    /// event, not a string per event.
    scratch: String,
}

impl ExplainState {
    /// Empty sketches for `objective`: daily buckets over its window.
    pub fn new(objective: &ObjectiveConfig) -> Self {
        let days = (objective.ring_minutes() as i64 + MINUTES_PER_DAY - 1) / MINUTES_PER_DAY + 1;
        Self {
            config: objective.explain.clone(),
            hours: BucketSeries::new(MINUTES_PER_HOUR, HOUR_BUCKETS),
            days: BucketSeries::new(MINUTES_PER_DAY, days),
            scratch: String::new(),
        }
    }

    /// Records one counted event in the buckets of `minute`. A reload that changed
    /// `explain` (its attributes or `max_values`) starts the sketches afresh.
    pub fn record(&mut self, objective: &ObjectiveConfig, event: &Event<'_>, minute: Minute) {
        if self.config != objective.explain {
            *self = Self::new(objective);
        }
        let Self {
            config,
            hours,
            days,
            scratch,
        } = self;
        let keys = config.attributes.len();
        if keys == 0 {
            return;
        }
        let mut hour = hours.bucket_mut(minute, keys);
        let mut day = days.bucket_mut(minute, keys);
        let bad_weight = if event.bad { event.weight } else { 0.0 };
        for bucket in [hour.as_deref_mut(), day.as_deref_mut()].into_iter().flatten() {
            bucket.total += event.weight;
            bucket.bad += bad_weight;
        }
        for (i, key) in config.attributes.iter().enumerate() {
            scratch.clear();
            write_group_key(scratch, std::slice::from_ref(key), event.attributes, event.resource);
            if scratch.is_empty() {
                continue;
            }
            for bucket in [hour.as_deref_mut(), day.as_deref_mut()].into_iter().flatten() {
                if let Some(sketch) = bucket.keys.get_mut(i) {
                    sketch.add(scratch, event.bad, event.weight, config.max_values);
                }
            }
        }
    }

    /// The explanation over the `window_minutes` ending at minute `now` (at
    /// `now_unix_nano`), for an objective of `target`.
    pub fn explain(
        &self,
        slo: &str,
        target: f64,
        window_label: String,
        window_minutes: Minute,
        now: Minute,
        now_unix_nano: u64,
    ) -> Explanation {
        let window_minutes = window_minutes.max(1);
        let series = if window_minutes <= HOURLY_UP_TO_MINUTES {
            &self.hours
        } else {
            &self.days
        };
        let from = (now - window_minutes + 1).div_euclid(series.minutes);
        let to = now.div_euclid(series.minutes);
        let from_unix_nano = u64::try_from(from * series.minutes)
            .unwrap_or(0)
            .saturating_mul(SLICE_NANOS);

        let (mut total, mut bad) = (0.0, 0.0);
        // (key index, value) -> counts over the window, and whether exact.
        let mut merged: BTreeMap<(usize, &str), Counts> = BTreeMap::new();
        let mut inexact = vec![false; self.config.attributes.len()];
        for bucket in series.covering(from, to) {
            total += bucket.total;
            bad += bucket.bad;
            for (i, sketch) in bucket.keys.iter().enumerate() {
                if let Some(flag) = inexact.get_mut(i) {
                    *flag |= sketch.evicted;
                }
                for (value, counts) in &sketch.values {
                    let entry = merged.entry((i, value.as_ref())).or_default();
                    entry.total += counts.total;
                    entry.bad += counts.bad;
                }
            }
        }
        let allowed_bad = (1.0 - target) * total;
        let share = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { 0.0 };
        let mut values: Vec<ExplainedValue> = merged
            .into_iter()
            .filter(|(_, counts)| counts.bad > 0.0)
            .map(|((i, value), counts)| ExplainedValue {
                key: self.config.attributes.get(i).cloned().unwrap_or_default(),
                value: value.to_owned(),
                bad: counts.bad,
                total: counts.total,
                bad_share: share(counts.bad, bad),
                total_share: share(counts.total, total),
                budget_share: share(counts.bad, allowed_bad),
                exact: !inexact.get(i).copied().unwrap_or(true),
            })
            .filter(|v| v.score() > 0.0)
            .collect();
        rank(&mut values);
        values.truncate(MAX_EXPLAINED);
        Explanation {
            slo: slo.to_owned(),
            window: window_label,
            from_unix_nano,
            to_unix_nano: now_unix_nano,
            total,
            bad,
            allowed_bad,
            values,
        }
    }
}

/// Orders values most over-represented first; ties by budget spent, then by key and
/// value, so the order is stable.
fn rank(values: &mut [ExplainedValue]) {
    values.sort_by(|a, b| {
        b.score()
            .total_cmp(&a.score())
            .then(b.budget_share.total_cmp(&a.budget_share))
            .then_with(|| a.key.cmp(&b.key))
            .then_with(|| a.value.cmp(&b.value))
    });
}

/// What the bad events of one objective have in common, over one window: the JSON of
/// `GET /api/v1/slos/{name}/explain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Objective name.
    pub slo: String,
    /// The window asked for: `1h`, `7d`, or the SLO window (`30d`, `calendar month`).
    pub window: String,
    /// Start of the span the buckets cover (the window rounded out to whole buckets).
    pub from_unix_nano: u64,
    /// End of that span: when the explanation was made.
    pub to_unix_nano: u64,
    /// Eligible weight over the span.
    pub total: f64,
    /// Bad weight over the span.
    pub bad: f64,
    /// Bad weight the target allows over the span's traffic: `(1 - target) × total`.
    pub allowed_bad: f64,
    /// Over-represented values, most first.
    pub values: Vec<ExplainedValue>,
}

/// One attribute value and what its events cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainedValue {
    /// Attribute key, e.g. `service.version`.
    pub key: String,
    /// Its value, as text.
    pub value: String,
    /// Bad weight of events with this value.
    pub bad: f64,
    /// Eligible weight of events with this value.
    pub total: f64,
    /// `bad` over the window's bad weight.
    pub bad_share: f64,
    /// `total` over the window's eligible weight.
    pub total_share: f64,
    /// `bad` over the window's `allowed_bad`: the share of the budget it spent.
    pub budget_share: f64,
    /// Whether the counts are exact (no value of this key was evicted from a
    /// sketch of the window); else they may be over-estimates.
    pub exact: bool,
}

impl ExplainedValue {
    /// How over-represented the value is among bad events.
    pub fn score(&self) -> f64 {
        self.bad_share - self.total_share
    }
}

/// A text rendering of an explanation, for `sloop slo explain`.
pub fn render_explanation(e: &Explanation) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(
        out,
        "{}: window {}, {:.0} events, {:.0} bad, {:.1} allowed",
        e.slo, e.window, e.total, e.bad, e.allowed_bad
    );
    if e.values.is_empty() {
        let _ = writeln!(
            out,
            "no attribute value is over-represented among bad events in this window"
        );
        return out;
    }
    let labels: Vec<String> = e.values.iter().map(|v| format!("{}={}", v.key, v.value)).collect();
    let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    for (label, v) in labels.iter().zip(&e.values) {
        let _ = writeln!(
            out,
            "{label:<width$}  bad {:.1}% of bad, {:.1}% of all  budget {:.1}%{}",
            v.bad_share * 100.0,
            v.total_share * 100.0,
            v.budget_share * 100.0,
            if v.exact { "" } else { "  (estimate)" },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Format;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn objective(attributes: &[&str], max_values: usize) -> ObjectiveConfig {
        let yaml = format!(
            "name: o\nsli: s\ntarget: 0.99\nwindow: 7d\nexplain:\n  attributes: [{}]\n  max_values: {max_values}\n",
            attributes.join(", ")
        );
        let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(&yaml))
            .extract()
            .expect("YAML");
        crate::confmap::parse_block(&figment::value::Value::from(dict)).expect("a valid objective")
    }

    fn event<'a>(attributes: &'a [KeyValue], resource: &'a [KeyValue], minute: Minute, bad: bool) -> Event<'a> {
        Event {
            attributes,
            resource,
            minute,
            time_unix_nano: minute as u64 * SLICE_NANOS,
            bad,
            weight: 1.0,
            trace_id: &[],
            span_id: &[],
        }
    }

    const NOW: Minute = 29_000_000; // a minute in 2025

    /// Below capacity every value's counts are exact, whatever the order.
    #[test]
    fn sketch_is_exact_under_capacity() {
        let config = objective(&["v"], 10);
        let mut state = ExplainState::new(&config);
        let mut expected: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for i in 0..1000u64 {
            let value = format!("{}", (i * 7) % 10);
            let bad = i % 3 == 0;
            let attributes = [kv("v", &value)];
            state.record(&config, &event(&attributes, &[], NOW, bad), NOW);
            let e = expected.entry(value).or_default();
            e.0 += 1.0;
            e.1 += if bad { 1.0 } else { 0.0 };
        }
        let sketch = &state.hours.buckets.values().next().expect("a bucket").keys[0];
        assert!(!sketch.evicted);
        assert_eq!(sketch.values.len(), 10);
        for (value, (total, bad)) in &expected {
            let counts = sketch.values.get(value.as_str()).expect("every value tracked");
            assert_eq!((counts.total, counts.bad), (*total, *bad), "{value}");
        }
    }

    /// Over capacity: at most `max_values` values, none under-counted, each
    /// over-estimated by at most total / capacity, and every value heavier than
    /// total / capacity still tracked.
    #[test]
    fn sketch_over_capacity_stays_bounded_and_keeps_heavy_values() {
        let capacity = 8;
        let config = objective(&["v"], capacity);
        let mut state = ExplainState::new(&config);
        let mut truth: BTreeMap<String, f64> = BTreeMap::new();
        let mut n = 0.0;
        for i in 0..3000u64 {
            // Two heavy values (a third of events each) amid 200 rare ones.
            let value = match i % 3 {
                0 => "heavy-a".to_string(),
                1 => "heavy-b".to_string(),
                _ => format!("rare-{}", (i * 31) % 200),
            };
            let attributes = [kv("v", &value)];
            state.record(&config, &event(&attributes, &[], NOW, false), NOW);
            *truth.entry(value).or_default() += 1.0;
            n += 1.0;
        }
        let sketch = &state.hours.buckets.values().next().expect("a bucket").keys[0];
        assert!(sketch.evicted);
        assert!(sketch.values.len() <= capacity, "{} values kept", sketch.values.len());
        let bound = n / capacity as f64;
        for (value, counts) in &sketch.values {
            let real = truth[value.as_ref()];
            assert!(counts.total >= real, "{value}: {} < {real}", counts.total);
            assert!(counts.total - real <= bound, "{value}: {} vs {real}", counts.total);
        }
        for heavy in ["heavy-a", "heavy-b"] {
            assert!(sketch.values.contains_key(heavy), "{heavy} evicted");
        }
        let explanation = state.explain("o", 0.99, "1h".into(), 60, NOW, NOW as u64 * SLICE_NANOS);
        assert_eq!(
            explanation.total, n,
            "bucket totals are exact whatever the sketch holds"
        );
    }

    /// A window covers only the buckets within it: an hour-old failure drops out of
    /// `1h` once two hours have passed, stays in `1d`, and hourly buckets older than a
    /// day are gone.
    #[test]
    fn windows_exclude_old_buckets() {
        let config = objective(&["v"], 10);
        let mut state = ExplainState::new(&config);
        let old = NOW - 3 * 60;
        let bad_attr = [kv("v", "bad-old")];
        let good_attr = [kv("v", "fine")];
        for _ in 0..10 {
            state.record(&config, &event(&bad_attr, &[], old, true), old);
            state.record(&config, &event(&good_attr, &[], NOW, false), NOW);
        }
        let at = |minutes| state.explain("o", 0.99, "w".into(), minutes, NOW, NOW as u64 * SLICE_NANOS);
        let hour = at(60);
        assert_eq!((hour.total, hour.bad), (10.0, 0.0));
        assert!(hour.values.is_empty());
        let day = at(1440);
        assert_eq!((day.total, day.bad), (20.0, 10.0));
        assert_eq!(day.values[0].value, "bad-old");
        let week = at(7 * 1440);
        assert_eq!((week.total, week.bad), (20.0, 10.0));

        // A day and more later the hourly buckets of then are dropped; the daily ones
        // still answer for longer windows.
        let later = NOW + 25 * 60;
        state.record(&config, &event(&good_attr, &[], later, false), later);
        assert!(state.hours.buckets.len() <= HOUR_BUCKETS as usize);
        assert!(state
            .hours
            .buckets
            .keys()
            .all(|&h| h > later.div_euclid(60) - HOUR_BUCKETS));
        let day = state.explain("o", 0.99, "1d".into(), 1440, later, later as u64 * SLICE_NANOS);
        assert_eq!(
            day.bad, 0.0,
            "the failure three hours before the first event is older than a day"
        );
        let week = state.explain("o", 0.99, "7d".into(), 7 * 1440, later, later as u64 * SLICE_NANOS);
        assert_eq!(week.bad, 10.0);
        // An event older than every kept bucket is not recorded anywhere.
        let ancient = later - 30 * 1440;
        state.record(&config, &event(&bad_attr, &[], ancient, true), ancient);
        let week = state.explain("o", 0.99, "7d".into(), 7 * 1440, later, later as u64 * SLICE_NANOS);
        assert_eq!(week.bad, 10.0);
    }

    /// The value all failures share ranks first, its budget share is bad / allowed;
    /// values failing no more than average are left out.
    #[test]
    fn ranking_puts_the_over_represented_value_first() {
        let config = objective(&["version", "region"], 50);
        let mut state = ExplainState::new(&config);
        let versions = ["1.0", "1.1", "1.2", "1.3"];
        let regions = ["eu", "us"];
        let mut total = 0.0;
        let mut bad_12 = 0.0;
        for round in 0..10 {
            for version in versions {
                for region in regions {
                    // The span carries the version, its resource the region.
                    let attributes = [kv("version", version)];
                    let resource = [kv("region", region)];
                    let bad = version == "1.2" && (region == "us" || round % 2 == 0);
                    state.record(&config, &event(&attributes, &resource, NOW, bad), NOW);
                    total += 1.0;
                    bad_12 += if bad { 1.0 } else { 0.0 };
                }
            }
        }
        let e = state.explain("o", 0.99, "1h".into(), 60, NOW, NOW as u64 * SLICE_NANOS);
        assert_eq!(e.total, total);
        let top = &e.values[0];
        assert_eq!((top.key.as_str(), top.value.as_str()), ("version", "1.2"));
        assert_eq!(top.bad_share, 1.0);
        assert_eq!(top.total_share, 0.25);
        let allowed = (1.0 - 0.99) * total;
        assert!((top.budget_share - bad_12 / allowed).abs() < 1e-12);
        assert!(top.exact);
        // us holds 10 of the 15 failures and half the traffic: over-represented, second.
        assert_eq!((e.values[1].key.as_str(), e.values[1].value.as_str()), ("region", "us"));
        // eu holds half the traffic and a third of the failures: not listed.
        assert_eq!(e.values.len(), 2, "{:?}", e.values);
        let text = render_explanation(&e);
        let first = text.lines().nth(1).expect("a ranked line");
        assert!(first.starts_with("version=1.2"), "{text}");
        assert!(first.contains("bad 100.0% of bad, 25.0% of all"), "{text}");
    }

    /// A changed `explain` config (on reload) starts the sketches afresh under it.
    #[test]
    fn new_explain_config_starts_afresh() {
        let config = objective(&["a"], 10);
        let mut state = ExplainState::new(&config);
        let attributes = [kv("a", "x"), kv("b", "y")];
        state.record(&config, &event(&attributes, &[], NOW, true), NOW);
        let changed = objective(&["b"], 10);
        state.record(&changed, &event(&attributes, &[], NOW, true), NOW);
        let fine = [kv("a", "x"), kv("b", "z")];
        state.record(&changed, &event(&fine, &[], NOW, false), NOW);
        let e = state.explain("o", 0.99, "1h".into(), 60, NOW, 0);
        assert_eq!(e.total, 2.0, "the event counted under the old config is gone");
        assert_eq!(e.values.len(), 1);
        assert_eq!((e.values[0].key.as_str(), e.values[0].value.as_str()), ("b", "y"));
    }
}
