//! `tail_sampling` — keeps or drops whole traces once they are complete, as the
//! Collector's tail sampling processor does: spans are held by trace ID, and
//! `decision_wait` after a trace's first span the policies decide it. The trace is
//! kept when any policy says so; its spans go downstream together, a dropped
//! trace's are discarded.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! **Late spans** (after the decision) follow it through bounded FIFO caches of
//! decided trace IDs; once an ID has left the caches its late spans form a new trace.
//!
//! **Memory.** Traces are spread over up to 16 shards by trace ID, each with its own
//! lock and an equal share of `num_traces`; a shard that is full decides its oldest
//! trace at once (counted in `otelcol_processor_tail_sampling_sampling_trace_dropped_too_early`),
//! so no more than `num_traces` traces are ever held.
//!
//! **Sampling weight.** Kept spans carry an `ot=th:` threshold in their tracestate so
//! that counts downstream (the slo processor) stay right:
//! - kept by any policy that does not draw lots (status_code, latency, sli,
//!   always_sample, attributes, span_count, ottl_condition, an `and` of such) →
//!   weight unchanged: an existing threshold or `SampleRate` stays; otherwise `th:0`;
//! - kept only by random policies (probabilistic, rate_limiting, composite) → the
//!   probability `p` that any of them would keep the trace (probabilistic policies
//!   with the same `hash_salt` count as one, with their largest percentage; others as
//!   independent), multiplied with the probability the span already carried
//!   (`ot=th:` or `SampleRate`). For rate_limiting and composite, `p` is estimated
//!   from the share of offered spans kept in the last full second: an approximation.
//!
//! **Backpressure.** Spans a client sent are acknowledged when the processor takes
//! them, and kept traces go on later from the timer. A kept trace the next stage
//! refuses (every exporter queue full) is held and offered again, and new requests
//! are refused meanwhile ([`crate::processors::backlog`]), so nothing acknowledged is
//! dropped for want of room.

mod config;
mod policy;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use metrics::{Counter, Gauge};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::TailSamplingConfig;
pub use policy::{keep_probability, Policies, Policy, PolicyRuntime, TraceId, TraceView, Verdict};

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, Claim, ConsumeError, Consumer, Lifecycle, Processor, ProcessorConfig, ProcessorContext,
    Signal, StartError, StateStore, WiringView,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::sampling::{adjusted_count, threshold, threshold_for, with_threshold};
use crate::pdata::Telemetry;
use crate::processors::backlog::{Backlog, RETRY_INTERVAL};

/// The attribute `record_policy` writes.
pub const POLICY_ATTRIBUTE: &str = "tailsampling.policy";

/// Most shards; fewer when `num_traces` is small, so each holds at least 1024.
const MAX_SHARDS: usize = 16;

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "tail_sampling",
    aliases: &[],
    signals: &[Signal::Traces],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    let config: TailSamplingConfig = parse_block(value)?;
    Ok(Box::new(CompiledTailSampling::compile(config)?))
}

/// A parsed `tail_sampling` block with its policies compiled, once: every pipeline's
/// instance shares them, each with its own rate windows ([`PolicyRuntime`]).
#[derive(Debug)]
pub struct CompiledTailSampling {
    /// The block as written.
    pub config: TailSamplingConfig,
    policies: Arc<Policies>,
    /// What state kept across a reload must have been made for.
    fingerprint: String,
}

impl CompiledTailSampling {
    /// Compiles the policies (conditions, regexes); errors carry their paths.
    pub fn compile(config: TailSamplingConfig) -> Result<Self, Vec<ConfigError>> {
        let policies = Policies::compile(&config.policies)?;
        Ok(Self {
            fingerprint: format!("{config:?}"),
            config,
            policies: Arc::new(policies),
        })
    }

    /// SLI names used by `sli` policies: (path in the block, name).
    pub fn required_slis(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        sli_names(&self.config.policies, "policies", &mut out);
        out
    }
}

/// SLI names used by `sli` policies, with their paths.
fn sli_names(policies: &[config::PolicyConfig], path: &str, out: &mut Vec<(String, String)>) {
    for (i, p) in policies.iter().enumerate() {
        let here = format!("{path}[{i}]");
        if let Some(sli) = &p.sli {
            for (j, name) in sli.names.iter().enumerate() {
                out.push((format!("{here}.sli.names[{j}]"), name.clone()));
            }
        }
        if let Some(and) = &p.and {
            sli_names(&and.and_sub_policy, &format!("{here}.and.and_sub_policy"), out);
        }
        if let Some(c) = &p.composite {
            sli_names(
                &c.composite_sub_policy,
                &format!("{here}.composite.composite_sub_policy"),
                out,
            );
        }
    }
}

impl ProcessorConfig for CompiledTailSampling {
    /// The traces waiting for a decision and the decision caches live in the
    /// service's state store under `processors/<id>/<pipeline>`: an instance built
    /// from the same config after a reload carries on with them.
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError> {
        let key = format!("processors/{}/{}", ctx.id, ctx.pipeline);
        let claim = ctx
            .service
            .state
            .claim(&key, &self.fingerprint, || Buffers::new(&self.config));
        let held = HeldBuffers {
            store: ctx.service.state.clone(),
            claim,
        };
        Ok(Arc::new(TailSamplingProcessor::with_buffers(
            self,
            &ctx.id.to_string(),
            next,
            Some(held),
        )))
    }

    fn check_signal(&self, signal: Signal) -> Result<(), String> {
        match signal {
            Signal::Traces => Ok(()),
            _ => Err("tail sampling decides whole traces".into()),
        }
    }

    fn check_wiring(&self, view: &WiringView<'_>) -> Vec<ConfigError> {
        crate::processors::sli::check_defined_before(view, &self.required_slis())
    }
}

/// A bounded map that forgets its oldest entries first.
struct FifoCache<V> {
    map: HashMap<TraceId, V>,
    order: VecDeque<TraceId>,
    capacity: usize,
}

impl<V> FifoCache<V> {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn get(&self, id: &TraceId) -> Option<&V> {
        self.map.get(id)
    }

    fn insert(&mut self, id: TraceId, value: V) {
        if self.capacity == 0 {
            return;
        }
        if self.map.insert(id, value).is_none() {
            if self.order.len() >= self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
            self.order.push_back(id);
        }
    }
}

/// How a kept trace's spans are marked.
#[derive(Debug, Clone, Copy)]
struct Kept {
    /// Index of the first top-level policy that kept it.
    policy: usize,
    /// The probability it was kept with (1 = deterministically).
    p: f64,
}

/// A trace waiting for its decision.
#[derive(Default)]
struct Pending {
    batches: Vec<ResourceSpans>,
    spans: u64,
}

/// One shard: its traces, their deadlines in arrival order, and past decisions.
struct Shard {
    traces: HashMap<TraceId, Pending>,
    deadlines: VecDeque<(Instant, TraceId)>,
    capacity: usize,
    kept: FifoCache<Kept>,
    dropped: FifoCache<()>,
}

/// Self-metrics.
struct Counters {
    sampled: Counter,
    not_sampled: Counter,
    too_early: Counter,
    on_memory: Gauge,
    /// Per top-level policy: (sampled, not sampled).
    per_policy: Vec<(Counter, Counter)>,
}

/// The traces waiting for a decision and the past decisions: state that outlives
/// one instance across a reload that keeps the config.
struct Buffers {
    shards: Vec<Mutex<Shard>>,
    /// Traces held, over all shards.
    held: AtomicUsize,
    /// Wakes a timer when a shard gets its first deadline (shared, so the instance
    /// that carries on after a reload hears of traces the old one took in).
    wake: Notify,
}

impl Buffers {
    fn new(config: &TailSamplingConfig) -> Self {
        let count = (config.num_traces / 1024).clamp(1, MAX_SHARDS);
        let share = |total: usize, i: usize| total / count + usize::from(i < total % count);
        let shards = (0..count)
            .map(|i| {
                let capacity = share(config.num_traces, i);
                let expected = (config.expected_new_traces_per_sec / count)
                    .saturating_mul(config.decision_wait.as_secs().max(1) as usize);
                Mutex::new(Shard {
                    traces: HashMap::with_capacity(expected.min(capacity)),
                    deadlines: VecDeque::new(),
                    capacity,
                    kept: FifoCache::new(share(config.decision_cache.sampled_cache_size, i)),
                    dropped: FifoCache::new(share(config.decision_cache.non_sampled_cache_size, i)),
                })
            })
            .collect();
        Self {
            shards,
            held: AtomicUsize::new(0),
            wake: Notify::new(),
        }
    }
}

/// Buffers claimed from the service's state store.
struct HeldBuffers {
    store: Arc<StateStore>,
    claim: Claim<Buffers>,
}

/// What the shards and the timer task share.
struct Inner {
    config: TailSamplingConfig,
    policies: Arc<Policies>,
    /// This instance's rate windows and budgets.
    runtime: PolicyRuntime,
    buffers: Arc<Buffers>,
    /// Where `buffers` came from, when they are kept across reloads.
    held: Option<HeldBuffers>,
    next: Arc<dyn Consumer>,
    counters: Counters,
    /// Traces decided early because their shard was full (for tests and logs).
    early: AtomicU64,
    stop: CancellationToken,
    /// Kept traces the next stage refused: they were acknowledged, so they are
    /// held and offered again, and new data is refused meanwhile.
    backlog: Backlog,
}

/// The running processor of one pipeline.
pub struct TailSamplingProcessor {
    inner: Arc<Inner>,
    timer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic under a shard lock leaves at worst a trace decided twice; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn shard_of(id: &TraceId, shards: usize) -> usize {
    let both = u128::from_le_bytes(*id);
    let mut h = (both as u64) ^ ((both >> 64) as u64);
    h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h % shards as u64) as usize
}

impl TailSamplingProcessor {
    /// A processor with its own buffers, labelled `id` in self-metrics.
    pub fn new(compiled: &CompiledTailSampling, id: &str, next: Arc<dyn Consumer>) -> Self {
        Self::with_buffers(compiled, id, next, None)
    }

    /// A processor on `held` buffers (kept across reloads), or its own.
    fn with_buffers(
        compiled: &CompiledTailSampling,
        id: &str,
        next: Arc<dyn Consumer>,
        held: Option<HeldBuffers>,
    ) -> Self {
        let policies = compiled.policies.clone();
        let buffers = match &held {
            Some(held) => held.claim.value.clone(),
            None => Arc::new(Buffers::new(&compiled.config)),
        };
        let label = id.to_string();
        let counter = |name: &'static str, sampled: &'static str| metrics::counter!(name, "processor" => label.clone(), "sampled" => sampled);
        let counters = Counters {
            sampled: counter("otelcol_processor_tail_sampling_global_count_traces_sampled", "true"),
            not_sampled: counter("otelcol_processor_tail_sampling_global_count_traces_sampled", "false"),
            too_early: metrics::counter!(
                "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early",
                "processor" => label.clone()
            ),
            on_memory: metrics::gauge!("otelcol_processor_tail_sampling_traces_on_memory", "processor" => label.clone()),
            per_policy: policies
                .list
                .iter()
                .map(|p| {
                    let c = |sampled: &'static str| {
                        metrics::counter!(
                            "otelcol_processor_tail_sampling_count_traces_sampled",
                            "processor" => label.clone(),
                            "policy" => p.name.clone(),
                            "sampled" => sampled
                        )
                    };
                    (c("true"), c("false"))
                })
                .collect(),
        };
        Self {
            inner: Arc::new(Inner {
                config: compiled.config.clone(),
                runtime: policies.runtime(),
                policies,
                buffers,
                held,
                next,
                counters,
                early: AtomicU64::new(0),
                stop: CancellationToken::new(),
                backlog: Backlog::new(label),
            }),
            timer: Mutex::new(None),
        }
    }

    /// Traces held now, over all shards.
    pub fn traces_held(&self) -> usize {
        self.inner.buffers.held.load(Ordering::Relaxed)
    }

    /// Traces decided early because `num_traces` was reached.
    pub fn decided_early(&self) -> u64 {
        self.inner.early.load(Ordering::Relaxed)
    }

    /// The largest number of traces any map holds compared with its share of
    /// `num_traces` (for tests): (held, capacity) per shard.
    #[cfg(test)]
    fn shard_usage(&self) -> Vec<(usize, usize)> {
        self.inner
            .buffers
            .shards
            .iter()
            .map(|s| {
                let s = lock(s);
                (s.traces.len(), s.capacity)
            })
            .collect()
    }
}

/// Spans grouped by trace ID, each group keeping its resources and scopes.
fn group_by_trace(request: ExportTraceServiceRequest) -> (HashMap<TraceId, Pending>, Vec<ResourceSpans>) {
    // Per trace, the (resource, scope) position in the request its last span came
    // from: a span from the same place joins the same group without comparing
    // resources or scopes.
    let mut traces: HashMap<TraceId, (Pending, (usize, usize))> = HashMap::new();
    let mut unkeyed = (Pending::default(), NOWHERE);
    for (r, rs) in request.resource_spans.into_iter().enumerate() {
        let ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        } = rs;
        for (s, ss) in scope_spans.into_iter().enumerate() {
            let ScopeSpans {
                scope,
                spans,
                schema_url: scope_schema,
            } = ss;
            for span in spans {
                let (pending, at) = match TraceId::try_from(span.trace_id.as_slice()) {
                    Ok(id) => traces.entry(id).or_insert_with(|| (Pending::default(), NOWHERE)),
                    // Malformed IDs cannot be grouped (the receiver drops them anyway).
                    Err(_) => &mut unkeyed,
                };
                if at.0 != r {
                    pending.batches.push(ResourceSpans {
                        resource: resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: schema_url.clone(),
                    });
                    *at = (r, usize::MAX);
                }
                let batch = pending.batches.last_mut().expect("pushed above");
                if at.1 != s {
                    batch.scope_spans.push(ScopeSpans {
                        scope: scope.clone(),
                        spans: Vec::new(),
                        schema_url: scope_schema.clone(),
                    });
                    at.1 = s;
                }
                batch.scope_spans.last_mut().expect("pushed above").spans.push(span);
                pending.spans += 1;
            }
        }
    }
    let traces = traces.into_iter().map(|(id, (pending, _))| (id, pending)).collect();
    (traces, unkeyed.0.batches)
}

/// No position yet.
const NOWHERE: (usize, usize) = (usize::MAX, usize::MAX);

impl Inner {
    /// Whether a newer instance has claimed these buffers since (a reload kept the
    /// config): it decides what they hold, so this one must not.
    fn handed_over(&self) -> bool {
        self.held
            .as_ref()
            .is_some_and(|held| held.claim.handed_over(&held.store))
    }

    /// Decides one trace under its shard's lock, so a late span cannot slip in
    /// between the decision and the cache entry. Kept spans are appended to `out`.
    fn decide(&self, shard: &mut Shard, id: TraceId, pending: Pending, now: Instant, out: &mut Vec<ResourceSpans>) {
        self.buffers.held.fetch_sub(1, Ordering::Relaxed);
        let view = TraceView {
            id: &id,
            batches: &pending.batches,
            span_count: pending.spans,
        };
        let verdicts: Vec<Verdict> = self
            .policies
            .list
            .iter()
            .map(|p| p.evaluate(&self.runtime, &view, now))
            .collect();
        for (verdict, (yes, no)) in verdicts.iter().zip(&self.counters.per_policy) {
            if verdict.sample { yes } else { no }.increment(1);
        }
        match keep_probability(&verdicts) {
            Some(p) => {
                self.counters.sampled.increment(1);
                let kept = Kept {
                    policy: verdicts.iter().position(|v| v.sample).unwrap_or(0),
                    p,
                };
                shard.kept.insert(id, kept);
                let mut batches = pending.batches;
                self.mark(&mut batches, kept);
                out.extend(batches);
            }
            None => {
                self.counters.not_sampled.increment(1);
                shard.dropped.insert(id, ());
            }
        }
    }

    /// Writes the sampling weight (and the policy name) on kept spans.
    fn mark(&self, batches: &mut [ResourceSpans], kept: Kept) {
        let policy = self
            .config
            .record_policy
            .then(|| self.policies.list[kept.policy].name.as_str());
        for span in batches
            .iter_mut()
            .flat_map(|rs| &mut rs.scope_spans)
            .flat_map(|ss| &mut ss.spans)
        {
            if kept.p >= 1.0 {
                if threshold(&span.trace_state).is_none() && adjusted_count("", &span.attributes) == 1.0 {
                    span.trace_state = with_threshold(&span.trace_state, 0);
                }
            } else {
                let before = 1.0 / adjusted_count(&span.trace_state, &span.attributes);
                span.trace_state = with_threshold(&span.trace_state, threshold_for(before * kept.p));
            }
            if let Some(name) = policy {
                let value = Some(AnyValue {
                    value: Some(any_value::Value::StringValue(name.to_owned())),
                });
                match span.attributes.iter_mut().find(|kv| kv.key == POLICY_ATTRIBUTE) {
                    Some(kv) => kv.value = value,
                    None => span.attributes.push(KeyValue {
                        key: POLICY_ATTRIBUTE.into(),
                        value,
                        ..Default::default()
                    }),
                }
            }
        }
    }

    /// Decides every trace of `shard` due by `due` (all when `None`).
    fn decide_due(&self, shard: &mut Shard, due: Option<Instant>, now: Instant, out: &mut Vec<ResourceSpans>) {
        while let Some(&(deadline, id)) = shard.deadlines.front() {
            if due.is_some_and(|d| deadline > d) {
                break;
            }
            shard.deadlines.pop_front();
            if let Some(pending) = shard.traces.remove(&id) {
                self.decide(shard, id, pending, now, out);
            }
        }
    }

    fn update_gauge(&self) {
        self.counters
            .on_memory
            .set(self.buffers.held.load(Ordering::Relaxed) as f64);
    }

    /// Sends kept spans on; what the next stage refuses is held in the backlog.
    async fn send(&self, batches: Vec<ResourceSpans>) -> Result<(), ConsumeError> {
        if batches.is_empty() {
            return Ok(());
        }
        let data = Telemetry::Traces(ExportTraceServiceRequest {
            resource_spans: batches,
        });
        self.backlog.send_or_hold(self.next.as_ref(), vec![data]).await
    }

    async fn consume(&self, request: ExportTraceServiceRequest) -> Result<(), ConsumeError> {
        // While kept traces wait for room downstream, there is no room for more.
        self.backlog.admit(self.next.as_ref()).await?;
        let (traces, mut late) = group_by_trace(request);
        let shards = self.buffers.shards.len();
        let mut by_shard: Vec<Vec<(TraceId, Pending)>> = (0..shards).map(|_| Vec::new()).collect();
        for (id, pending) in traces {
            by_shard[shard_of(&id, shards)].push((id, pending));
        }
        let mut decided = Vec::new();
        for (index, group) in by_shard.into_iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let mut guard = lock(&self.buffers.shards[index]);
            let shard = &mut *guard;
            // Read under the lock, so each shard's deadlines stay in order.
            let now = Instant::now();
            let deadline = now + self.config.decision_wait;
            for (id, Pending { mut batches, spans }) in group {
                if let Some(kept) = shard.kept.get(&id).copied() {
                    self.mark(&mut batches, kept);
                    late.extend(batches);
                } else if shard.dropped.get(&id).is_some() {
                    // Late spans of a dropped trace are dropped too.
                } else if let Some(pending) = shard.traces.get_mut(&id) {
                    pending.batches.extend(batches);
                    pending.spans += spans;
                } else {
                    while shard.traces.len() >= shard.capacity {
                        let Some((_, oldest)) = shard.deadlines.pop_front() else {
                            break;
                        };
                        if let Some(pending) = shard.traces.remove(&oldest) {
                            self.early.fetch_add(1, Ordering::Relaxed);
                            self.counters.too_early.increment(1);
                            self.decide(shard, oldest, pending, now, &mut decided);
                        }
                    }
                    if shard.deadlines.is_empty() {
                        self.buffers.wake.notify_one();
                    }
                    shard.traces.insert(id, Pending { batches, spans });
                    shard.deadlines.push_back((deadline, id));
                    self.buffers.held.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Checked under the lock: either shutdown's final flush takes this shard's
            // lock after us and decides what we added, or we see the stop and decide
            // — unless a newer instance carries on with these buffers and decides.
            if self.stop.is_cancelled() && !self.handed_over() {
                // Nothing would decide it later: decide now.
                self.decide_due(shard, None, now, &mut decided);
            }
        }
        self.update_gauge();
        // Traces decided early belong to other requests: a permanent refusal was
        // logged by the backlog, and is no fault of this request.
        let _ = self.send(decided).await;
        self.send(late).await
    }

    /// Decides everything due by `due` (everything when `None`) and sends it.
    async fn flush(&self, due: Option<Instant>) {
        let now = Instant::now();
        let mut out = Vec::new();
        for shard in &self.buffers.shards {
            self.decide_due(&mut lock(shard), due, now, &mut out);
        }
        self.update_gauge();
        // A permanent refusal was logged by the backlog.
        let _ = self.send(out).await;
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.buffers
            .shards
            .iter()
            .filter_map(|s| lock(s).deadlines.front().map(|(d, _)| *d))
            .min()
    }
}

/// The timer: sleeps until the earliest deadline, then decides what is due; while
/// kept traces are held, offers them again every [`RETRY_INTERVAL`] first.
async fn run_timer(inner: Arc<Inner>) {
    loop {
        let holding = inner.backlog.is_holding();
        let retry = holding.then(|| Instant::now() + RETRY_INTERVAL);
        let wake_at = match (inner.next_deadline(), retry) {
            (Some(deadline), Some(retry)) => Some(deadline.min(retry)),
            (deadline, retry) => deadline.or(retry),
        };
        let Some(wake_at) = wake_at else {
            tokio::select! {
                _ = inner.buffers.wake.notified() => continue,
                _ = inner.backlog.notified() => continue,
                _ = inner.stop.cancelled() => return,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake_at) => {}
            _ = inner.backlog.notified() => continue,
            _ = inner.stop.cancelled() => return,
        }
        if holding && !inner.backlog.resend(inner.next.as_ref()).await {
            continue;
        }
        inner.flush(Some(Instant::now())).await;
    }
}

impl Consumer for TailSamplingProcessor {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            match data {
                Telemetry::Traces(request) => self.inner.consume(request).await,
                other => Err(ConsumeError::permanent(format!(
                    "tail_sampling processor got {}",
                    other.signal()
                ))),
            }
        })
    }
}

impl Lifecycle for TailSamplingProcessor {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        // Spawn inside the future, so the timer starts on the runtime that awaits it.
        Box::pin(async move {
            let mut timer = lock(&self.timer);
            if timer.is_none() && !self.inner.stop.is_cancelled() {
                *timer = Some(tokio::spawn(run_timer(self.inner.clone())));
            }
            Ok(())
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.stop.cancel();
            let timer = lock(&self.timer).take();
            if let Some(timer) = timer {
                let _ = timer.await;
            }
            if self.inner.handed_over() {
                // The newer instance decides what is buffered. Its timer may be
                // waiting for a first deadline that this one's timer was told of.
                self.inner.buffers.wake.notify_one();
            } else {
                // The last instance on these buffers: decide everything now.
                self.inner.flush(None).await;
            }
            // Held traces are offered until the shutdown deadline (the topology's).
            self.inner.backlog.drain(self.inner.next.as_ref()).await;
        })
    }
}
