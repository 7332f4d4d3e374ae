//! `slo` — keeps error budgets for service level objectives over rolling or calendar
//! windows, from events an [`sli`](crate::processors::sli) processor classified, and
//! emits budget metrics alongside the forwarded telemetry.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Each event counts by its end time into a one-minute slice of a ring covering the
//! window, weighted by its adjusted count (`ot=th:` tracestate threshold, else a
//! `SampleRate` attribute, else 1), so the numbers stay right behind samplers.
//!
//! ## What is trusted
//!
//! - Verdicts: an objective counts the `sli.<name>` verdicts of an sli processor
//!   before it in the pipeline, which overwrites or removes any verdict a client
//!   sent; a config where no such processor defines the SLI is refused. With
//!   `trust_upstream_verdicts: true` (a gateway counting what its agents
//!   classified) verdicts that arrived with the data count too, for SLIs not
//!   classified here.
//! - Weights: both come from the wire, so one event never counts for more than
//!   `max_event_weight` (default 1000; capped events are counted in
//!   `otelcol_processor_slo_capped_weights`), and `trust_sample_rate: false`
//!   ignores `SampleRate` attributes altogether.
//! Events older than the window or beyond `max_clock_skew` in the future are not
//! counted, and are counted in `otelcol_processor_slo_late_events` and
//! `otelcol_processor_slo_future_events`. Telemetry is forwarded unchanged.
//!
//! Every `interval` the processor emits `slo.*` metrics (see [`emit`]) into the
//! exporters of its own pipeline, or into `metrics_pipeline`. The same figures are
//! served on the admin address as JSON at `/api/v1/slos` ([`status`]) and over gRPC
//! as `sloop.v1.SloService` (the messages of `proto/sloop/v1/slo.proto`; see
//! [`api`] for the conversion); what an objective's bad events have in common ("why
//! is it burning") at `/api/v1/slos/{name}/explain` (see [`explain`]). With
//! `alertmanager`, the page and ticket alerts go to Alertmanager as well, and
//! resolve when they clear (see [`alertmanager`]); at shutdown, alerts still firing
//! are left firing, so a restart does not resolve and re-open pages.
//!
//! ## Status page
//!
//! The admin address also serves a status page (`/slos`, see
//! [`admin::page`](crate::admin::page)): every objective, least budget left first, and
//! per objective the budget left and the burn rate over the whole window, from
//! `/api/v1/slos/{name}/history` (see [`history`]). `trace_url` (optional) is a URL
//! template with `{trace_id}`, e.g. `http://localhost:16686/trace/{trace_id}`
//! (Jaeger): the page links the trace ids of recent bad events with it. It is checked
//! at load: it must contain `{trace_id}` and, with an id filled in, be an absolute
//! http or https URL with a host.
//!
//! ## Reload
//!
//! Each objective's counts live in the service's state store under
//! `processors/<id>/objectives/<name>`, with the fingerprint of what they depend on
//! ([`ObjectiveConfig::counts_fingerprint`]: the SLI and the window). A reload
//! builds the new instance while the old one still runs: the new one takes the
//! counts over when the fingerprint is unchanged (a changed `target` or `alerting`
//! applies to them from then on) and starts afresh otherwise. A changed `group_by`
//! or `max_groups` ([`ObjectiveConfig::groups_fingerprint`]) keeps the objective's
//! counts and starts its groups afresh.
//! When the new instance starts it registers its objectives in the
//! [`SloRegistry`]; from then on it alone emits and checkpoints them, so the old
//! instance's last figures never follow the new one's. When the old instance shuts
//! down, objectives the reload removed leave the registry. The `storage` database
//! is opened once per path and shared by the instances; the stored fingerprints make
//! a restart with a changed SLI or window start afresh too.

pub mod alertmanager;
pub mod api;
mod budget;
mod config;
pub mod emit;
pub mod explain;
pub mod history;
mod ring;
mod state;
pub mod status;
mod store;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use metrics::Counter;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use tokio_util::sync::CancellationToken;

use crate::component::replay::{current_source, Position, Replay};

pub use alertmanager::AlertmanagerConfig;
pub use budget::{assess, window_label, Assessment, BurnRate};
pub use config::{
    AlertingConfig, BurnRateRule, Calendar, ExplainConfig, ObjectiveConfig, SloConfig, DEFAULT_EXPLAIN_ATTRIBUTES,
    DEFAULT_WINDOW,
};
pub use ring::{minute_of, Minute, SliceRing};
pub use state::{ObjectiveHandle, ObjectiveState, Series};
pub use status::{SloRegistry, SloStatus, REGISTRY_KEY};

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, ConsumeError, Consumer, Lifecycle, Processor, ProcessorConfig,
    ProcessorContext, Signal, StartError, StateStore,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::sampling::{sample_rate, threshold_count};
use crate::pdata::{Encoded, Telemetry};
use alertmanager::AlertmanagerNotifier;
use state::{Event, SharedObjectiveState, GROUP_SEPARATOR};
use store::{ObjectiveCheckpoint, SeriesCheckpoint, StoreSlot, StoredSeries};

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "slo",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<SloConfig>(value)?))
}

impl ProcessorConfig for SloConfig {
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError> {
        Ok(Arc::new(SloProcessor::new(self.clone(), ctx, next)?))
    }

    fn metrics_pipelines(&self) -> Vec<(String, String)> {
        self.metrics_pipeline
            .iter()
            .map(|p| ("metrics_pipeline".to_string(), p.clone()))
            .collect()
    }

    /// One pipeline only (one state per objective: two pipelines would split it),
    /// objective names unique across every slo processor (the first definition, in
    /// id order, keeps the name), and every SLI defined by an sli processor before.
    fn check_wiring(&self, view: &crate::component::WiringView<'_>) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if view.pipelines.len() > 1 {
            let names: Vec<&str> = view.pipelines.iter().map(|p| p.name).collect();
            errors.push(ConfigError::new(
                view.path(""),
                format!(
                    "used in pipelines {}: it keeps one state per objective; define one slo processor per \
                     pipeline (e.g. slo/traces and slo/logs)",
                    names.join(", ")
                ),
            ));
        }
        let mut defined: Vec<(&str, String)> = view
            .configs::<SloConfig>()
            .take_while(|(id, _)| *id != view.id)
            .flat_map(|(id, config)| {
                config
                    .objectives
                    .iter()
                    .enumerate()
                    .map(move |(j, o)| (o.name.as_str(), format!("processors.{id}.objectives[{j}].name")))
            })
            .collect();
        for (i, objective) in self.objectives.iter().enumerate() {
            let here = view.path(&format!("objectives[{i}].name"));
            match defined.iter().find(|(name, _)| *name == objective.name) {
                Some((_, first)) => errors.push(ConfigError::new(
                    here,
                    format!("SLO {:?} is already defined at {first}", objective.name),
                )),
                None => defined.push((&objective.name, here)),
            }
        }
        // Trusting upstream verdicts, an SLI may have been classified before the
        // data arrived; otherwise only an sli processor here classifies (and it
        // replaces whatever verdict the data came with).
        if !self.trust_upstream_verdicts {
            let slis: Vec<(String, String)> = self
                .objectives
                .iter()
                .enumerate()
                .map(|(i, o)| (format!("objectives[{i}].sli"), o.sli.clone()))
                .collect();
            errors.extend(crate::processors::sli::check_defined_before(view, &slis));
        }
        errors
    }
}

/// The value of the attribute an sli processor sets.
pub fn sli_attribute(sli: &str) -> String {
    format!("sli.{sli}")
}

/// Store key prefix for groups, so no group can collide with the overall series ("").
const GROUP_PREFIX: &str = "g:";

struct Objective {
    handle: Arc<ObjectiveHandle>,
    attribute: String,
    /// Where the service's state store keeps its state.
    key: String,
    /// Whether that state was kept from an earlier instance (a reload).
    kept: bool,
}

/// The state store key of an objective's state.
fn objective_key(id: &ComponentId, name: &str) -> String {
    format!("processors/{id}/objectives/{name}")
}

/// The handles of `objectives` this instance reports: those registered as current.
fn current(objectives: &[Objective], registry: &SloRegistry) -> Vec<Arc<ObjectiveHandle>> {
    objectives
        .iter()
        .filter(|o| registry.is_current(&o.handle))
        .map(|o| o.handle.clone())
        .collect()
}

/// Self-metrics of one slo processor.
struct SloCounters {
    late: Counter,
    future: Counter,
    overflow: Counter,
    capped: Counter,
}

/// The running processor.
pub struct SloProcessor {
    id: ComponentId,
    config: SloConfig,
    objectives: Arc<Vec<Objective>>,
    next: Arc<dyn Consumer>,
    /// Where the slo.* metrics go: this pipeline's exporters, or the entry of
    /// `metrics_pipeline` (an edge of the graph).
    metrics_target: Arc<dyn Consumer>,
    counters: SloCounters,
    /// The `storage` database, shared through the service's state store.
    storage: Option<Arc<StoreSlot>>,
    /// Where objectives are registered for the status API, and which instance
    /// reports each.
    registry: Arc<SloRegistry>,
    /// The service's state store, to tell at shutdown which objectives a reload removed.
    state: Arc<StateStore>,
    /// Replayable sources' positions, stored with each checkpoint.
    replay: Arc<Replay>,
    stop: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Sends the alerts to Alertmanager (with `alertmanager`).
    notifier: Option<Arc<AlertmanagerNotifier>>,
    /// Its task, next to `task`: a slow Alertmanager delays neither metrics nor
    /// checkpoints.
    notifier_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Unix time in nanoseconds.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl SloProcessor {
    fn new(config: SloConfig, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Self, BuildError> {
        let metrics_target = match &config.metrics_pipeline {
            None => ctx.exporters.clone(),
            Some(name) => ctx.pipelines.get(name).cloned().ok_or_else(|| {
                BuildError::at(
                    "metrics_pipeline",
                    format!("pipeline {name:?} was not built before this processor"),
                )
            })?,
        };
        let state = &ctx.service.state;
        let registry = SloRegistry::of(state);
        let storage = config.storage.as_ref().map(|dir| {
            // One slot per file, however the path is spelled relative to the
            // working directory.
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            state
                .claim(&StoreSlot::key(&dir), "", || StoreSlot::new(dir.clone()))
                .value
        });
        let now = unix_nanos();
        let objectives = config
            .objectives
            .iter()
            .map(|o| {
                let key = objective_key(ctx.id, &o.name);
                let claim = state.claim(&key, &o.counts_fingerprint(), || {
                    SharedObjectiveState::new(ObjectiveState::new(o, minute_of(now), now))
                });
                Objective {
                    handle: ObjectiveHandle::linking(o.clone(), claim.value, config.trace_url.clone()),
                    attribute: sli_attribute(&o.sli),
                    key,
                    kept: claim.kept,
                }
            })
            .collect();
        let notifier = config
            .alertmanager
            .as_ref()
            .map(|am| AlertmanagerNotifier::new(am, config.interval, ctx.id, state).map(Arc::new))
            .transpose()?;
        let label = ctx.id.to_string();
        Ok(Self {
            id: ctx.id.clone(),
            counters: SloCounters {
                late: metrics::counter!("otelcol_processor_slo_late_events", "processor" => label.clone()),
                future: metrics::counter!("otelcol_processor_slo_future_events", "processor" => label.clone()),
                overflow: metrics::counter!("otelcol_processor_slo_group_overflow_events", "processor" => label.clone()),
                capped: metrics::counter!("otelcol_processor_slo_capped_weights", "processor" => label),
            },
            config,
            objectives: Arc::new(objectives),
            next,
            metrics_target,
            storage,
            registry,
            state: state.clone(),
            replay: ctx.service.replay.clone(),
            stop: CancellationToken::new(),
            task: Mutex::new(None),
            notifier,
            notifier_task: Mutex::new(None),
        })
    }

    /// Remembers the replayable source handing this batch over, if one is, so its
    /// positions are stored with this store's checkpoints.
    fn note_source(&self) {
        let (Some(slot), Some(source)) = (&self.storage, current_source()) else {
            return;
        };
        let mut seen = slot.seen();
        if !seen.sources.contains(&source) {
            seen.sources.insert(source);
        }
    }

    /// `max_clock_skew` in nanoseconds: compared with each event's own time, not
    /// its minute, so an event 5m30s ahead is refused with the default 5m.
    fn max_skew_nanos(&self) -> u64 {
        u64::try_from(self.config.max_clock_skew.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Where the slo.* metrics go.
    fn metrics_target(&self) -> Arc<dyn Consumer> {
        self.metrics_target.clone()
    }

    /// How many events one span or log record stands for: its `ot=th:` threshold's
    /// adjusted count, else its `SampleRate` (when trusted), else 1; never more than
    /// `max_event_weight`, since both come from the wire.
    fn weight(&self, trace_state: &str, attributes: &[KeyValue]) -> f64 {
        let weight = threshold_count(trace_state)
            .or_else(|| self.config.trust_sample_rate.then(|| sample_rate(attributes)).flatten())
            .unwrap_or(1.0);
        if weight > self.config.max_event_weight {
            self.counters.capped.increment(1);
            return self.config.max_event_weight;
        }
        weight
    }

    /// Classifies one span or log record for every objective whose SLI tagged it.
    #[allow(clippy::too_many_arguments)]
    fn classify<'a>(
        &self,
        events: &mut [Vec<Event<'a>>],
        attributes: &'a [KeyValue],
        resource: &'a [KeyValue],
        trace_state: &str,
        end: u64,
        ids: (&'a [u8], &'a [u8]),
        now: u64,
    ) {
        let mut weight = None;
        for (i, objective) in self.objectives.iter().enumerate() {
            let Some(bad) = outcome(attributes, &objective.attribute) else {
                continue;
            };
            let weight = *weight.get_or_insert_with(|| self.weight(trace_state, attributes));
            let end = if end == 0 { now } else { end };
            events[i].push(Event {
                attributes,
                resource,
                minute: minute_of(end),
                time_unix_nano: end,
                bad,
                weight,
                trace_id: ids.0,
                span_id: ids.1,
            });
        }
    }

    fn count(&self, data: &Telemetry) {
        let now = unix_nanos();
        let now_minute = minute_of(now);
        let mut events: Vec<Vec<Event<'_>>> = self.objectives.iter().map(|_| Vec::new()).collect();
        match data {
            Telemetry::Traces(request) => {
                for rs in &request.resource_spans {
                    let resource = rs
                        .resource
                        .as_ref()
                        .map(|r| r.attributes.as_slice())
                        .unwrap_or_default();
                    for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                        let ids = (span.trace_id.as_slice(), span.span_id.as_slice());
                        self.classify(
                            &mut events,
                            &span.attributes,
                            resource,
                            &span.trace_state,
                            span.end_time_unix_nano,
                            ids,
                            now,
                        );
                    }
                }
            }
            Telemetry::Logs(request) => {
                for rl in &request.resource_logs {
                    let resource = rl
                        .resource
                        .as_ref()
                        .map(|r| r.attributes.as_slice())
                        .unwrap_or_default();
                    for log in rl.scope_logs.iter().flat_map(|sl| &sl.log_records) {
                        let time = if log.time_unix_nano != 0 {
                            log.time_unix_nano
                        } else {
                            log.observed_time_unix_nano
                        };
                        let ids = (log.trace_id.as_slice(), log.span_id.as_slice());
                        self.classify(&mut events, &log.attributes, resource, "", time, ids, now);
                    }
                }
            }
            Telemetry::Metrics(_) => {}
        }
        for (objective, events) in self.objectives.iter().zip(&events) {
            if events.is_empty() {
                continue;
            }
            let config = &objective.handle.config;
            let outcome = objective
                .handle
                .lock()
                .record(config, events, now_minute, now, self.max_skew_nanos());
            self.counters.late.increment(outcome.too_late);
            self.counters.future.increment(outcome.too_early);
            self.counters.overflow.increment(outcome.overflowed);
        }
    }
}

/// `Some(true)` for a bad event, `Some(false)` for good, `None` when the SLI did not
/// classify it.
fn outcome(attributes: &[KeyValue], key: &str) -> Option<bool> {
    let value = attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    match value {
        any_value::Value::StringValue(s) if s == "bad" => Some(true),
        any_value::Value::StringValue(s) if s == "good" => Some(false),
        _ => None,
    }
}

impl Consumer for SloProcessor {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            self.count(&data);
            self.note_source();
            self.next.consume(data).await
        })
    }

    /// slo only reads the data, so its encoding goes on with it.
    fn consume_encoded(&self, data: Telemetry, encoded: Encoded) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            self.count(&data);
            self.note_source();
            self.next.consume_encoded(data, encoded).await
        })
    }
}

/// Rebuilds a series from what the store held, moved forward to `now`.
fn restore(stored: &StoredSeries, ring_minutes: usize, now: Minute) -> Series {
    let head = stored.slices.last().map_or(now, |(m, _, _)| (*m).max(now));
    let mut series = Series::new(ring_minutes, head, stored.start_unix_nano);
    for (minute, good, bad) in &stored.slices {
        series.ring.add(*minute, *good, *bad);
        series.newest = series.newest.max(*minute);
    }
    series.ring.advance(now);
    series.cumulative_good = stored.cumulative_good;
    series.cumulative_bad = stored.cumulative_bad;
    series
}

/// Everything changed since the last checkpoint, marking it clean.
fn take_checkpoint(handles: &[Arc<ObjectiveHandle>]) -> Vec<ObjectiveCheckpoint> {
    let mut out = Vec::new();
    for handle in handles {
        let mut state = handle.lock();
        let replace = std::mem::take(&mut state.replace_stored);
        // A replacing checkpoint deletes every row anyway.
        let freed: Vec<String> = std::mem::take(&mut state.freed)
            .into_iter()
            .filter(|_| !replace)
            .map(|g| format!("{GROUP_PREFIX}{g}"))
            .collect();
        let mut changed = Vec::new();
        for (group, series) in state.series_mut() {
            if replace {
                series.dirty = true;
                series.dirty_from = Some(series.ring.oldest());
            }
            if !series.dirty && series.dirty_from.is_none() {
                continue;
            }
            let from = series.dirty_from.unwrap_or(series.ring.head());
            changed.push(SeriesCheckpoint {
                group: group.map_or_else(String::new, |g| format!("{GROUP_PREFIX}{g}")),
                series: StoredSeries {
                    cumulative_good: series.cumulative_good,
                    cumulative_bad: series.cumulative_bad,
                    start_unix_nano: series.start_unix_nano,
                    slices: series.ring.slices_since(from).collect(),
                },
                oldest: series.ring.oldest(),
            });
            series.dirty = false;
            series.dirty_from = None;
        }
        if replace || !changed.is_empty() || !freed.is_empty() {
            out.push(ObjectiveCheckpoint {
                objective: handle.config.name.clone(),
                fingerprint: handle.config.counts_fingerprint(),
                groups_fingerprint: handle.config.groups_fingerprint(),
                replace,
                freed,
                series: changed,
            });
        }
    }
    out
}

/// Writes what changed in the objectives this instance reports.
async fn save(storage: Option<&StoreSlot>, objectives: &[Objective], registry: &SloRegistry, replay: &Replay) {
    let Some(slot) = storage else { return };
    let Some(store) = slot.get() else { return };
    // Which objectives this instance reports is decided under the lock: once a
    // newer instance has registered an objective, this one takes no checkpoint of
    // it that could reach the file after the newer one's.
    let _in_order = slot.writes.lock().await;
    let handles = current(objectives, registry);
    // No batch of a replayable source is half counted in the snapshot, and the
    // positions stored with it are exactly those of the batches it includes.
    let (checkpoints, positions) = replay.snapshot(|| take_checkpoint(&handles)).await;
    let positions = {
        let seen = slot.seen();
        let ours: BTreeMap<String, Position> = positions
            .into_iter()
            .filter(|(source, _)| seen.sources.contains(source.as_str()))
            .collect();
        (ours != seen.written).then_some(ours)
    };
    if checkpoints.is_empty() && positions.is_none() {
        return;
    }
    let result = tokio::task::spawn_blocking(move || {
        store
            .save(&checkpoints, positions.as_ref())
            .map(|()| positions)
            .map_err(|e| (e, checkpoints))
    })
    .await;
    match result {
        Ok(Ok(positions)) => {
            if let Some(positions) = positions {
                slot.seen().written = positions;
            }
        }
        Ok(Err((error, checkpoints))) => {
            tracing::error!(message = "SLO checkpoint failed; it is retried at the next interval.", %error);
            mark_dirty_again(&handles, &checkpoints);
        }
        Err(error) => tracing::error!(message = "SLO checkpoint task failed.", %error),
    }
}

/// After a failed write, marks what it held as changed again so the next
/// checkpoint carries it.
fn mark_dirty_again(handles: &[Arc<ObjectiveHandle>], checkpoints: &[ObjectiveCheckpoint]) {
    for checkpoint in checkpoints {
        let Some(handle) = handles.iter().find(|h| h.config.name == checkpoint.objective) else {
            continue;
        };
        let mut state = handle.lock();
        state.replace_stored |= checkpoint.replace;
        let freed = checkpoint.freed.iter().filter_map(|g| g.strip_prefix(GROUP_PREFIX));
        state.freed.extend(freed.map(str::to_owned));
        for written in &checkpoint.series {
            let series = match written.group.strip_prefix(GROUP_PREFIX) {
                None => Some(&mut state.overall),
                Some(group) => state.groups.get_mut(group).map(|(_, s)| s),
            };
            if let Some(series) = series {
                series.dirty = true;
                let from = written.series.slices.first().map_or(series.ring.head(), |(m, _, _)| *m);
                series.dirty_from = Some(series.dirty_from.map_or(from, |d| d.min(from)));
            }
        }
    }
}

async fn emit(handles: &[Arc<ObjectiveHandle>], target: &Arc<dyn Consumer>) {
    if handles.is_empty() {
        return;
    }
    let now = unix_nanos();
    let request = emit::build(handles, minute_of(now), now);
    if let Err(error) = target.consume(Telemetry::Metrics(request)).await {
        tracing::warn!(message = "SLO metrics were refused downstream.", %error);
    }
}

/// Every `interval`, sends the alerts of the objectives this instance reports to
/// Alertmanager (and resolves those of objectives a reload removed), until `stop`; a
/// request under way when `stop` comes is dropped. Once a newer instance reports the
/// objectives (a reload), this one sends nothing: were `alertmanager` gone from the
/// new config, it would otherwise resolve every alert on its way out.
fn notify_every(
    notifier: Arc<AlertmanagerNotifier>,
    interval: std::time::Duration,
    objectives: Arc<Vec<Objective>>,
    registry: Arc<SloRegistry>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    let handles = current(&objectives, &registry);
                    if handles.len() < objectives.len() {
                        continue;
                    }
                    tokio::select! {
                        biased;
                        _ = stop.cancelled() => break,
                        _ = notifier.notify(&handles) => {}
                    }
                }
            }
        }
    })
}

impl SloProcessor {
    /// Gives every objective its state at start: state kept from an earlier instance
    /// is the newest there is and stays (its groups only if counted under the same
    /// grouping); fresh state is what `storage` holds.
    async fn attach_storage(&self) -> Result<(), StartError> {
        for objective in self.objectives.iter() {
            let mut state = objective.handle.lock();
            if state.regroup(&objective.handle.config) {
                // The store's group rows are of the old grouping.
                state.replace_stored = true;
            }
        }
        let Some(slot) = &self.storage else {
            for objective in self.objectives.iter() {
                objective.handle.lock().stored_in = None;
            }
            return Ok(());
        };
        let store = slot.open().await.map_err(|e| StartError::new(&self.id, e))?;
        let positions = store.positions().map_err(|e| StartError::new(&self.id, e))?;
        {
            let mut seen = slot.seen();
            if seen.written.is_empty() {
                seen.written = positions.clone();
            }
        }
        self.replay.restore(&StoreSlot::key(&slot.dir), positions);
        let now = unix_nanos();
        let now_minute = minute_of(now);
        for objective in self.objectives.iter() {
            let config = &objective.handle.config;
            if objective.kept {
                let mut state = objective.handle.lock();
                if state.stored_in.as_deref() != Some(slot.dir.as_path()) {
                    // Kept in memory, but this store has none of it (a reload set
                    // or moved `storage`): write it whole.
                    state.replace_stored = true;
                    state.stored_in = Some(slot.dir.clone());
                }
                continue;
            }
            let loaded = store
                .load(&config.name, &config.counts_fingerprint(), &config.groups_fingerprint())
                .map_err(|e| StartError::new(&self.id, e))?;
            let mut state = ObjectiveState::new(config, now_minute, now);
            for (key, series) in &loaded.series {
                let restored = restore(series, config.ring_minutes(), now_minute);
                match key.strip_prefix(GROUP_PREFIX) {
                    None => state.overall = restored,
                    Some(group) => {
                        let values = group.split(GROUP_SEPARATOR).map(str::to_owned).collect();
                        state.groups.insert(group.to_owned(), (values, restored));
                    }
                }
            }
            state.stored_in = Some(slot.dir.clone());
            // Groups with no event left in the window are freed now, and their
            // rows deleted at the next checkpoint.
            state.advance(now_minute);
            if loaded.stale {
                state.replace_stored = true;
                tracing::info!(message = "SLO state not (wholly) restored: stored counts are of another SLI, window or grouping.", slo = %config.name, window_good = state.overall.ring.totals().0, window_bad = state.overall.ring.totals().1);
            } else {
                let (good, bad) = state.overall.ring.totals();
                tracing::info!(message = "SLO state restored.", slo = %config.name, window_good = good, window_bad = bad, groups = state.groups.len());
            }
            *objective.handle.lock() = state;
        }
        Ok(())
    }
}

impl Lifecycle for SloProcessor {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move {
            if self.task.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                return Ok(());
            }
            // No checkpoint reaches the store between this instance reading it and
            // taking the objectives over: an older instance (before a reload) could
            // otherwise write rows this one neither loaded nor replaces.
            let writes = match &self.storage {
                Some(slot) => Some(slot.writes.lock().await),
                None => None,
            };
            self.attach_storage().await?;
            // From here on this instance reports its objectives; the older instance
            // stops emitting and checkpointing them, and sending their alerts (taken
            // over first: between the two, the older one would see none of its
            // objectives as its own and resolve their alerts).
            if let Some(notifier) = &self.notifier {
                notifier.take_over();
            }
            for objective in self.objectives.iter() {
                self.registry.register(objective.handle.clone());
            }
            drop(writes);
            let objectives = self.objectives.clone();
            let registry = self.registry.clone();
            let storage = self.storage.clone();
            let replay = self.replay.clone();
            let target = self.metrics_target();
            let stop = self.stop.clone();
            let (interval, checkpoint_interval) = (self.config.interval, self.config.checkpoint_interval);
            let task = tokio::spawn(async move {
                let start = tokio::time::Instant::now();
                let mut emit_tick = tokio::time::interval_at(start + interval, interval);
                let mut save_tick = tokio::time::interval_at(start + checkpoint_interval, checkpoint_interval);
                emit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                save_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = emit_tick.tick() => emit(&current(&objectives, &registry), &target).await,
                        _ = save_tick.tick() => save(storage.as_deref(), &objectives, &registry, &replay).await,
                    }
                }
            });
            *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
            if let Some(notifier) = &self.notifier {
                let task = notify_every(
                    notifier.clone(),
                    interval,
                    self.objectives.clone(),
                    self.registry.clone(),
                    self.stop.clone(),
                );
                *self.notifier_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
            }
            Ok(())
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop.cancel();
            // Alerts still firing are not resolved: a restart must not flap pages
            // (Alertmanager resolves them itself once their endsAt passes).
            let notifier_task = self.notifier_task.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(notifier_task) = notifier_task {
                let _ = notifier_task.await;
            }
            let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
            let Some(task) = task else { return };
            let _ = task.await;
            // Last figures out, last state down — of the objectives this instance
            // still reports. After a reload the new instance reports the others:
            // its figures (a new target; fresh counts with a new start time after a
            // new window) must not be followed by this instance's older ones, nor
            // its checkpoints overwritten by older state.
            emit(&current(&self.objectives, &self.registry), &self.metrics_target()).await;
            save(self.storage.as_deref(), &self.objectives, &self.registry, &self.replay).await;
            // Objectives the reload removed (the new graph did not claim their
            // state): nothing reports them any more.
            for objective in self.objectives.iter() {
                let kept = self
                    .state
                    .get::<SharedObjectiveState>(&objective.key)
                    .is_some_and(|state| objective.handle.shares(&state));
                if !kept {
                    self.registry.unregister(&objective.handle);
                }
            }
        })
    }
}
