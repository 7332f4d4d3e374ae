//! The state one objective keeps: a [`Series`] for all its events and one per group.
//!
//! State is separate from the processor that feeds it (the component's wiring): it
//! lives in the service's [`StateStore`](crate::component::StateStore), one entry
//! per objective, so a reload hands it to the new processor instance, and the status
//! API can read it. An [`ObjectiveHandle`] pairs one instance's config of the
//! objective with that shared state; a reload that changes only `target` or
//! `alerting` builds a new handle around the same state.
//!
//! ## Groups (segments)
//!
//! With `group_by`, events are also counted per group, in at most `max_groups`
//! slots; further groups count in [`OVERFLOW_GROUP`]. A group with no event left
//! in the window gives its slot back when the state advances (and, with a store,
//! its rows are deleted at the next checkpoint). A group first seen after the
//! slots were taken is tracked by [`OverflowCandidates`]; once its own counts would
//! page, it takes the slot of the group that spent least, whose counts move into
//! [`OVERFLOW_GROUP`], so every count stays in exactly one group.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};

use super::budget::{assess, Assessment};
use super::config::ObjectiveConfig;
use super::explain::ExplainState;
use super::ring::{Minute, Placement, SliceRing};

/// Recent bad events kept per series, for exemplars.
const EXEMPLARS: usize = 5;

/// The group that events of groups beyond `max_groups` count in.
pub const OVERFLOW_GROUP: &str = "other";

/// Overflowed group keys tracked as candidates for a slot of their own.
const CANDIDATES: usize = 16;

/// A recent bad event, emitted as an exemplar on `slo.events{slo.outcome="bad"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct BadEvent {
    /// Its trace (16 bytes; empty for logs without one).
    pub trace_id: Vec<u8>,
    /// Its span (8 bytes; may be empty).
    pub span_id: Vec<u8>,
    /// When it ended, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Its weight (adjusted count).
    pub weight: f64,
}

/// Counts for one objective, or one group of it.
#[derive(Debug, Clone)]
pub struct Series {
    /// Per-minute counts over the window.
    pub ring: SliceRing,
    /// Good events since `start_unix_nano` (the `slo.events` counter).
    pub cumulative_good: f64,
    /// Bad events since `start_unix_nano`.
    pub cumulative_bad: f64,
    /// When counting began; survives restarts with the stored state.
    pub start_unix_nano: u64,
    /// The most recent bad events.
    pub recent_bad: VecDeque<BadEvent>,
    /// The oldest minute changed since the last checkpoint.
    pub dirty_from: Option<Minute>,
    /// Whether the cumulative counters changed since the last checkpoint.
    pub dirty: bool,
    /// The newest minute an event was counted in (`Minute::MIN`: none yet). Once
    /// it has left the ring the series has had no event for the whole window, and
    /// a group's slot is freed.
    pub newest: Minute,
}

impl Series {
    /// An empty series whose newest minute is `now`.
    pub fn new(ring_minutes: usize, now: Minute, start_unix_nano: u64) -> Self {
        Self {
            ring: SliceRing::new(ring_minutes, now),
            cumulative_good: 0.0,
            cumulative_bad: 0.0,
            start_unix_nano,
            recent_bad: VecDeque::new(),
            dirty_from: None,
            dirty: false,
            newest: Minute::MIN,
        }
    }

    /// Whether no event of the series is left in its ring (it must have been
    /// advanced to the present).
    pub fn idle(&self) -> bool {
        self.newest < self.ring.oldest()
    }

    /// Adds every count of `other` (at the same head) to this series: its slices,
    /// its cumulative counters and its newest minute.
    fn absorb(&mut self, other: &Series) {
        let oldest = other.ring.oldest();
        for (minute, good, bad) in other.ring.slices_since(oldest) {
            self.ring.add(minute, good, bad);
            self.dirty_from = Some(self.dirty_from.map_or(minute, |d| d.min(minute)));
        }
        self.cumulative_good += other.cumulative_good;
        self.cumulative_bad += other.cumulative_bad;
        self.newest = self.newest.max(other.newest);
        self.dirty = true;
    }

    fn record(&mut self, event: &Event<'_>, minute: Minute) -> Placement {
        let (good, bad) = if event.bad {
            (0.0, event.weight)
        } else {
            (event.weight, 0.0)
        };
        let placement = self.ring.add(minute, good, bad);
        if placement == Placement::Counted {
            self.cumulative_good += good;
            self.cumulative_bad += bad;
            self.dirty = true;
            self.dirty_from = Some(self.dirty_from.map_or(minute, |d| d.min(minute)));
            self.newest = self.newest.max(minute);
            if event.bad {
                if self.recent_bad.len() == EXEMPLARS {
                    self.recent_bad.pop_front();
                }
                self.recent_bad.push_back(BadEvent {
                    trace_id: event.trace_id.to_vec(),
                    span_id: event.span_id.to_vec(),
                    time_unix_nano: event.time_unix_nano,
                    weight: event.weight,
                });
            }
        }
        placement
    }
}

/// One classified event, as the processor extracts it. It borrows what it was
/// extracted from: its group is looked up under the objective's lock without
/// allocating, and only a new group copies its key and values.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// The event's attributes, where `group_by` looks first.
    pub attributes: &'a [KeyValue],
    /// Its resource's attributes, where `group_by` looks next.
    pub resource: &'a [KeyValue],
    /// The slice it belongs in (by end time).
    pub minute: Minute,
    /// End time, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Bad (else good).
    pub bad: bool,
    /// Adjusted count.
    pub weight: f64,
    /// For exemplars.
    pub trace_id: &'a [u8],
    /// For exemplars.
    pub span_id: &'a [u8],
}

/// What happened to recorded events, for self-metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecordOutcome {
    /// Counted.
    pub counted: u64,
    /// Older than the window.
    pub too_late: u64,
    /// Further in the future than `max_clock_skew`.
    pub too_early: u64,
    /// Counted in the overflow group because `max_groups` was reached.
    pub overflowed: u64,
}

/// Group keys counted in [`OVERFLOW_GROUP`] that spend budget: the candidates for
/// a slot of their own.
///
/// Without it, a segment first seen after `max_groups` were taken is diluted in
/// `other` however hard it fails. This is a weighted Space-Saving sketch (Metwally,
/// Agrawal, El Abbadi 2005) over the *bad* weight of overflowed keys: at most
/// [`CANDIDATES`] keys, a new key taking the place of the one with the least
/// estimated bad weight (or of one not seen for the horizon), so the keys spending
/// most of the budget stay, in bounded memory, whatever the cardinality. It is a
/// few lines over a 16-entry array, so no crate is used for it.
///
/// The estimate only decides which keys stay tracked. Whether a key burns is
/// decided on its exact good and bad weights since it entered the sketch (at most
/// the horizon ago), so a key is never promoted on another key's counts.
#[derive(Debug, Default)]
pub struct OverflowCandidates {
    entries: Vec<Candidate>,
}

#[derive(Debug, Clone)]
struct Candidate {
    key: String,
    /// Space-Saving's estimate of the key's bad weight (an upper bound).
    estimate: f64,
    /// Exact weights since `since`.
    good: f64,
    bad: f64,
    since: Minute,
    /// The last minute the key was seen.
    seen: Minute,
}

impl OverflowCandidates {
    /// Counts an overflowed event of `key` at `now`; returns the key's exact
    /// (good, bad) weights since it is tracked, or `None` when it is not (a good
    /// event of an untracked key). Counts older than `horizon` minutes start over.
    fn observe(&mut self, key: &str, bad: bool, weight: f64, now: Minute, horizon: Minute) -> Option<(f64, f64)> {
        let index = match self.entries.iter().position(|c| c.key == key) {
            Some(i) => i,
            None if !bad => return None,
            None => {
                let fresh = |estimate: f64| Candidate {
                    key: key.to_owned(),
                    estimate,
                    good: 0.0,
                    bad: 0.0,
                    since: now,
                    seen: now,
                };
                if self.entries.len() < CANDIDATES {
                    self.entries.push(fresh(0.0));
                    self.entries.len() - 1
                } else {
                    // A key gone quiet for the horizon leaves first; else the one
                    // with the least bad weight, whose estimate the new key inherits.
                    let stale = self.entries.iter().position(|c| now - c.seen >= horizon);
                    let i = stale.unwrap_or_else(|| {
                        (0..self.entries.len())
                            .min_by(|&a, &b| self.entries[a].estimate.total_cmp(&self.entries[b].estimate))
                            .unwrap_or(0)
                    });
                    let inherited = if stale.is_some() { 0.0 } else { self.entries[i].estimate };
                    self.entries[i] = fresh(inherited);
                    i
                }
            }
        };
        let c = &mut self.entries[index];
        if now - c.since >= horizon {
            (c.good, c.bad, c.since) = (0.0, 0.0, now);
        }
        c.seen = now;
        if bad {
            c.bad += weight;
            c.estimate += weight;
        } else {
            c.good += weight;
        }
        Some((c.good, c.bad))
    }

    /// Stops tracking `key` (it got a slot).
    fn remove(&mut self, key: &str) {
        self.entries.retain(|c| c.key != key);
    }

    /// Tracked keys, for tests.
    #[cfg(test)]
    pub fn keys(&self) -> Vec<&str> {
        self.entries.iter().map(|c| c.key.as_str()).collect()
    }
}

/// When an overflowed key gets a slot of its own: (the burn rate its counts must
/// exceed, the horizon in minutes its counts cover), from the page rules: the
/// lowest page threshold over the longest page window. `None` without page rules.
fn promotion(config: &ObjectiveConfig) -> Option<(f64, Minute)> {
    let rules = &config.alerting.page;
    let threshold = rules.iter().map(|r| r.burn_rate).min_by(f64::total_cmp)?;
    let horizon = rules.iter().map(|r| r.long.as_secs() / 60).max()?;
    Some((threshold, horizon.max(1) as Minute))
}

/// The whole state of one objective.
#[derive(Debug)]
pub struct ObjectiveState {
    /// Every event.
    pub overall: Series,
    /// Per group (when `group_by` is set), keyed by the group key.
    pub groups: BTreeMap<String, (Vec<String>, Series)>,
    /// The `group_by` and `max_groups` the groups were counted under.
    pub grouping: (Vec<String>, usize),
    /// The `storage` directory whose store holds this state up to the last
    /// checkpoint (`None`: none does).
    pub stored_in: Option<PathBuf>,
    /// The next checkpoint replaces everything the store holds for the objective
    /// with every series in full: the store holds counts of another SLI or window,
    /// or none of this state (a reload moved it to another `storage`).
    pub replace_stored: bool,
    /// Groups freed since the last checkpoint, whose rows it deletes (kept only
    /// while `stored_in` is set, so it cannot grow without a store to drain it).
    pub freed: BTreeSet<String>,
    /// Overflowed keys that may deserve a slot.
    pub candidates: OverflowCandidates,
    /// "Why is it burning": attribute values of the counted events (in memory only).
    pub explain: ExplainState,
}

impl ObjectiveState {
    /// Fresh state at `now`.
    pub fn new(config: &ObjectiveConfig, now: Minute, now_unix_nano: u64) -> Self {
        Self {
            overall: Series::new(config.ring_minutes(), now, now_unix_nano),
            groups: BTreeMap::new(),
            grouping: (config.group_by.clone(), config.max_groups),
            stored_in: None,
            replace_stored: false,
            freed: BTreeSet::new(),
            candidates: OverflowCandidates::default(),
            explain: ExplainState::new(config),
        }
    }

    /// Whether the groups were counted under `config`'s `group_by` and `max_groups`.
    pub fn grouped_as(&self, config: &ObjectiveConfig) -> bool {
        self.grouping.0 == config.group_by && self.grouping.1 == config.max_groups
    }

    /// Drops the groups if they were counted under another grouping than
    /// `config`'s, which the state follows from now on; returns whether it did.
    pub fn regroup(&mut self, config: &ObjectiveConfig) -> bool {
        if self.grouped_as(config) {
            return false;
        }
        self.groups.clear();
        self.freed.clear();
        self.candidates = OverflowCandidates::default();
        self.grouping = (config.group_by.clone(), config.max_groups);
        true
    }

    /// Every series, the objective's own first (group key `None`).
    pub fn series_mut(&mut self) -> impl Iterator<Item = (Option<&str>, &mut Series)> {
        std::iter::once((None, &mut self.overall)).chain(
            self.groups
                .iter_mut()
                .map(|(key, (_, series))| (Some(key.as_str()), series)),
        )
    }

    /// Moves every series to `now`, expiring old slices, and frees the slot of
    /// every group that has had no event for the whole window: a segment that went
    /// away leaves room for a new one (and, with a store, its rows go at the next
    /// checkpoint, so a restart does not bring it back).
    pub fn advance(&mut self, now: Minute) {
        self.overall.ring.advance(now);
        let stored = self.stored_in.is_some();
        let freed = &mut self.freed;
        self.groups.retain(|key, (_, series)| {
            series.ring.advance(now);
            let idle = series.idle();
            if idle && stored {
                freed.insert(key.clone());
            }
            !idle
        });
    }

    /// The overflow group's series, created empty if there is none yet.
    fn overflow(&mut self, config: &ObjectiveConfig, now: Minute, now_unix_nano: u64) -> Option<&mut Series> {
        // Looked up before inserting: `entry` would allocate the key on every
        // overflowed event.
        if !self.groups.contains_key(OVERFLOW_GROUP) {
            let values = vec![OVERFLOW_GROUP.to_owned(); config.group_by.len()];
            let series = Series::new(config.ring_minutes(), now, now_unix_nano);
            self.groups.insert(OVERFLOW_GROUP.to_owned(), (values, series));
        }
        self.groups.get_mut(OVERFLOW_GROUP).map(|(_, series)| series)
    }

    /// Groups holding a slot (`other` holds none).
    fn slots_taken(&self) -> usize {
        self.groups.len() - usize::from(self.groups.contains_key(OVERFLOW_GROUP))
    }

    /// Frees a slot for a burning overflowed key whose bad weight is `bad`: the
    /// group that spent the least budget in the window (least bad weight, then
    /// fewest events) leaves, its counts merged into `other` so that no count is
    /// lost. Only a group that spent less than `bad` leaves, so two burning keys
    /// never take a slot from each other in turn. Returns whether a slot is free.
    fn evict_for(&mut self, config: &ObjectiveConfig, bad: f64, now: Minute, now_unix_nano: u64) -> bool {
        let victim = self
            .groups
            .iter()
            .filter(|(key, _)| key.as_str() != OVERFLOW_GROUP)
            .map(|(key, (_, series))| (key, series.ring.totals()))
            .min_by(|(_, (ag, ab)), (_, (bg, bb))| ab.total_cmp(bb).then((ag + ab).total_cmp(&(bg + bb))))
            .filter(|(_, (_, victim_bad))| *victim_bad < bad)
            .map(|(key, _)| key.clone());
        let Some(victim) = victim else {
            return false;
        };
        let Some((_, series)) = self.groups.remove(&victim) else {
            return false;
        };
        if let Some(other) = self.overflow(config, now, now_unix_nano) {
            other.absorb(&series);
        }
        if self.stored_in.is_some() {
            self.freed.insert(victim);
        }
        true
    }

    /// Counts `events`, refusing those stamped more than `max_skew_nanos` after
    /// `now_unix_nano` (compared in nanoseconds: `max_clock_skew` is exact).
    pub fn record(
        &mut self,
        config: &ObjectiveConfig,
        events: &[Event<'_>],
        now: Minute,
        now_unix_nano: u64,
        max_skew_nanos: u64,
    ) -> RecordOutcome {
        self.advance(now);
        let mut outcome = RecordOutcome::default();
        // An instance that a reload replaced with another grouping still drains
        // what it holds: its events count, but not in groups of the grouping it no
        // longer has.
        let grouped = !config.group_by.is_empty() && self.grouped_as(config);
        // Each event's group key is written here and looked up borrowed: one buffer
        // per request, not one key per event.
        let mut key = String::new();
        for event in events {
            if event.time_unix_nano > now_unix_nano.saturating_add(max_skew_nanos) {
                outcome.too_early += 1;
                continue;
            }
            // A clock a little ahead counts in the current minute: slices never run
            // ahead of now, so every window still ends at the present.
            let minute = event.minute.min(now);
            match self.overall.record(event, minute) {
                Placement::Counted => {
                    outcome.counted += 1;
                    self.explain.record(config, event, minute);
                }
                Placement::TooLate => {
                    outcome.too_late += 1;
                    continue;
                }
            }
            if !grouped {
                continue;
            }
            key.clear();
            write_group_key(&mut key, &config.group_by, event.attributes, event.resource);
            let key = if self.groups.contains_key(key.as_str()) {
                key.as_str()
            } else if self.slots_taken() < config.max_groups || self.promote(config, &key, event, now, now_unix_nano) {
                let values = group_values(&config.group_by, event.attributes, event.resource);
                let series = Series::new(config.ring_minutes(), now, now_unix_nano);
                self.groups.insert(key.clone(), (values, series));
                key.as_str()
            } else {
                outcome.overflowed += 1;
                self.overflow(config, now, now_unix_nano);
                OVERFLOW_GROUP
            };
            let Some((_, series)) = self.groups.get_mut(key) else {
                continue;
            };
            series.record(event, minute);
        }
        outcome
    }

    /// Whether overflowed `key` gets a slot with `event`: its counts since the
    /// sketch tracks it hold at least `min_events` and burn faster than the lowest
    /// page threshold (it would page on its own), and a quieter group made room.
    /// From then on it is counted on its own; what it counted in `other` before
    /// stays there.
    fn promote(
        &mut self,
        config: &ObjectiveConfig,
        key: &str,
        event: &Event<'_>,
        now: Minute,
        now_unix_nano: u64,
    ) -> bool {
        let Some((threshold, horizon)) = promotion(config) else {
            return false;
        };
        let Some((good, bad)) = self.candidates.observe(key, event.bad, event.weight, now, horizon) else {
            return false;
        };
        let total = good + bad;
        let burning =
            total > 0.0 && total >= config.alerting.min_events && (bad / total) / (1.0 - config.target) > threshold;
        if !burning || !self.evict_for(config, bad, now, now_unix_nano) {
            return false;
        }
        self.candidates.remove(key);
        true
    }
}

/// Separates group values in a group key (a character no attribute value needs).
pub const GROUP_SEPARATOR: char = '\u{1f}';

/// The value `group_by`'s `key` takes for an event: its own attribute, else its
/// resource's; `None` when neither has it.
fn group_value<'a>(key: &str, attributes: &'a [KeyValue], resource: &'a [KeyValue]) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .chain(resource)
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

/// Appends a group value as it is shown (empty when absent).
fn write_value(out: &mut String, value: Option<&any_value::Value>) {
    // Writing into a String cannot fail.
    let _ = match value {
        None => Ok(()),
        Some(any_value::Value::StringValue(s)) => {
            out.push_str(s);
            Ok(())
        }
        Some(any_value::Value::BoolValue(b)) => write!(out, "{b}"),
        Some(any_value::Value::IntValue(i)) => write!(out, "{i}"),
        Some(any_value::Value::DoubleValue(d)) => write!(out, "{d}"),
        Some(other) => write!(out, "{other:?}"),
    };
}

/// Writes an event's group key for `group_by` into `out`: its values, in
/// `group_by` order, separated by [`GROUP_SEPARATOR`].
pub fn write_group_key(out: &mut String, group_by: &[String], attributes: &[KeyValue], resource: &[KeyValue]) {
    for (i, key) in group_by.iter().enumerate() {
        if i > 0 {
            out.push(GROUP_SEPARATOR);
        }
        write_value(out, group_value(key, attributes, resource));
    }
}

/// An event's group values for `group_by`, in order.
pub fn group_values(group_by: &[String], attributes: &[KeyValue], resource: &[KeyValue]) -> Vec<String> {
    group_by
        .iter()
        .map(|key| {
            let mut value = String::new();
            write_value(&mut value, group_value(key, attributes, resource));
            value
        })
        .collect()
}

/// The state of one objective as the state store keeps it, shared by every
/// processor instance that counts it.
pub type SharedObjectiveState = Mutex<ObjectiveState>;

/// One processor instance's config of an objective, and the objective's state,
/// shared by that processor, its checkpointer and the status API.
#[derive(Debug)]
pub struct ObjectiveHandle {
    /// The objective, as this instance's config has it.
    pub config: ObjectiveConfig,
    /// The processor's `trace_url`, which the history links recent bad events with.
    pub trace_url: Option<String>,
    state: Arc<SharedObjectiveState>,
}

impl ObjectiveHandle {
    /// Wraps fresh state.
    pub fn new(config: ObjectiveConfig, state: ObjectiveState) -> Arc<Self> {
        Self::sharing(config, Arc::new(Mutex::new(state)))
    }

    /// Wraps state that other handles (an earlier instance's) may share.
    pub fn sharing(config: ObjectiveConfig, state: Arc<SharedObjectiveState>) -> Arc<Self> {
        Self::linking(config, state, None)
    }

    /// Wraps shared state, linking recent bad events to traces with `trace_url`.
    pub fn linking(config: ObjectiveConfig, state: Arc<SharedObjectiveState>, trace_url: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            config,
            trace_url,
            state,
        })
    }

    /// Whether this handle counts into `state`.
    pub fn shares(&self, state: &Arc<SharedObjectiveState>) -> bool {
        Arc::ptr_eq(&self.state, state)
    }

    /// Locks the state. A panic while counting cannot leave it unusable; keep going.
    pub fn lock(&self) -> MutexGuard<'_, ObjectiveState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Assessments at `now`: overall, then every group.
    pub fn assess(&self, now: Minute) -> (Assessment, Vec<(Vec<String>, Assessment)>) {
        let mut state = self.lock();
        state.advance(now);
        let overall = assess(&state.overall.ring, &self.config, now);
        let groups = state
            .groups
            .values()
            .map(|(values, series)| (values.clone(), assess(&series.ring, &self.config, now)))
            .collect();
        (overall, groups)
    }
}
