//! Compiled policies and how they judge one buffered trace.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use regex::RegexSet;
use tokio::time::Instant;

use super::config::{compile_condition, PolicyConfig, PolicyType};
use crate::confmap::ConfigError;
use crate::ottl::{Condition, SpanView};
use crate::pdata::sampling::MAX_THRESHOLD;

/// A trace ID as a map key.
pub type TraceId = [u8; 16];

/// One buffered trace, as policies see it.
pub struct TraceView<'a> {
    /// Its ID.
    pub id: &'a TraceId,
    /// Its spans, with their resources and scopes.
    pub batches: &'a [ResourceSpans],
    /// How many spans.
    pub span_count: u64,
}

impl TraceView<'_> {
    fn spans(&self) -> impl Iterator<Item = SpanView<'_>> {
        self.batches.iter().flat_map(|rs| {
            rs.scope_spans.iter().flat_map(move |ss| {
                ss.spans.iter().map(move |span| SpanView {
                    span,
                    resource: rs.resource.as_ref(),
                    scope: ss.scope.as_ref(),
                })
            })
        })
    }
}

/// How much chance played in a policy's verdict, for the kept spans' weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Chance {
    /// The verdict follows from the trace's content alone.
    None,
    /// Trace ID hash: policies with the same salt group (index) are fully correlated.
    Hash {
        /// Index of the salt among the config's distinct salts.
        salt: usize,
        /// The probability of keeping.
        p: f64,
    },
    /// A rate limit or another independent draw, with an estimated probability.
    Rate(f64),
}

/// A policy's verdict on a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Keep the trace.
    pub sample: bool,
    /// For a kept trace: how it was kept. For a dropped one: the chance it had
    /// (`Chance::None` = none at all).
    pub chance: Chance,
}

impl Verdict {
    fn deterministic(sample: bool) -> Self {
        Self {
            sample,
            chance: Chance::None,
        }
    }

    /// The probability this verdict stands for (1 for deterministic keeps, 0 for
    /// deterministic drops).
    pub fn probability(&self) -> f64 {
        match self.chance {
            Chance::None => f64::from(u8::from(self.sample)),
            Chance::Hash { p, .. } | Chance::Rate(p) => p,
        }
    }
}

/// A spans-per-second budget over one-second windows of the (tokio) clock, with the
/// kept share of the last full window as the probability estimate.
#[derive(Debug)]
pub struct RateWindow {
    start: Option<Instant>,
    kept: u64,
    offered: u64,
    last_share: f64,
}

impl RateWindow {
    fn new() -> Self {
        Self {
            start: None,
            kept: 0,
            offered: 0,
            last_share: 1.0,
        }
    }

    fn roll(&mut self, now: Instant) {
        match self.start {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {}
            Some(start) => {
                // The share of the window just finished, or 1 after an idle second.
                self.last_share = if now.duration_since(start) >= Duration::from_secs(2) || self.offered == 0 {
                    1.0
                } else {
                    (self.kept as f64 / self.offered as f64).clamp(f64::MIN_POSITIVE, 1.0)
                };
                self.start = Some(now);
                self.kept = 0;
                self.offered = 0;
            }
            None => self.start = Some(now),
        }
    }

    /// The estimated keep probability: that of the last full window, or this
    /// window's so far if lower.
    fn share(&self) -> f64 {
        if self.offered == 0 {
            return self.last_share;
        }
        self.last_share
            .min((self.kept as f64 / self.offered as f64).max(f64::MIN_POSITIVE))
    }
}

/// One composite sub-policy with its budget.
#[derive(Debug)]
pub struct SubPolicy {
    policy: Policy,
    allocated: u64,
    /// Its slot among the runtime's spent budgets.
    used: usize,
}

/// What a policy checks.
#[derive(Debug)]
pub enum Rule {
    /// Keep everything.
    AlwaysSample,
    /// Trace duration in nanoseconds within [min, max] (max 0 = none).
    Latency {
        /// Lower bound.
        min: u64,
        /// Upper bound (0 = none).
        max: u64,
    },
    /// Any span with one of these status codes.
    StatusCode(Vec<i32>),
    /// Any span with one of these attributes == "bad"; empty = any `sli.*`.
    Sli(Vec<String>),
    /// Trace ID hash below `bound` (of 2^56).
    Probabilistic {
        /// The salt.
        salt: String,
        /// Its group index.
        salt_group: usize,
        /// Keep probability.
        p: f64,
        /// Keep when the 56-bit hash is below this.
        bound: u64,
    },
    /// A string attribute with one of the values.
    StringAttribute {
        /// Key.
        key: String,
        /// Exact values.
        values: HashSet<String>,
        /// Or regexes.
        regexes: Option<RegexSet>,
        /// Invert.
        invert: bool,
    },
    /// A numeric attribute in range.
    NumericAttribute {
        /// Key.
        key: String,
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
        /// Invert.
        invert: bool,
    },
    /// A spans-per-second budget.
    RateLimiting {
        /// The budget.
        limit: u64,
        /// Its slot among the runtime's rate windows.
        window: usize,
    },
    /// Span count in [min, max] (max 0 = none).
    SpanCount {
        /// Lower bound.
        min: u64,
        /// Upper bound.
        max: u64,
    },
    /// Any span matching any condition.
    Ottl(Vec<Condition>),
    /// Every sub-policy.
    And(Vec<Policy>),
    /// Sub-policies in order, each within its share of a shared budget.
    Composite {
        /// The shared budget.
        total: u64,
        /// In evaluation order.
        subs: Vec<SubPolicy>,
        /// Its slot among the runtime's rate windows (whose counters count spans of
        /// the whole composite).
        window: usize,
    },
}

/// A compiled policy.
#[derive(Debug)]
pub struct Policy {
    /// Its name.
    pub name: String,
    /// What it checks.
    pub rule: Rule,
}

/// Compiled policies: immutable, shared by every instance built from one config.
/// What changes while they run (rate windows, spent budgets) is a
/// [`PolicyRuntime`], one per running instance.
#[derive(Debug, Default)]
pub struct Policies {
    /// The top-level policies, in config order.
    pub list: Vec<Policy>,
    /// Rate windows the policies use (rate_limiting, composite).
    windows: usize,
    /// Composite sub-policy budgets.
    budgets: usize,
}

impl Policies {
    /// Compiles `configs` (the `policies` list); errors carry their paths.
    pub fn compile(configs: &[PolicyConfig]) -> Result<Policies, Vec<ConfigError>> {
        let mut compiler = Compiler::default();
        let list = compiler.compile(configs, "policies");
        if compiler.errors.is_empty() {
            Ok(Policies {
                list,
                windows: compiler.windows,
                budgets: compiler.budgets,
            })
        } else {
            Err(compiler.errors)
        }
    }

    /// Fresh runtime state for one running instance.
    pub fn runtime(&self) -> PolicyRuntime {
        PolicyRuntime {
            windows: (0..self.windows).map(|_| Mutex::new(RateWindow::new())).collect(),
            budgets: (0..self.budgets).map(|_| Mutex::new(0)).collect(),
        }
    }
}

/// What policies change as they judge traces, for one running instance.
#[derive(Debug)]
pub struct PolicyRuntime {
    windows: Vec<Mutex<RateWindow>>,
    budgets: Vec<Mutex<u64>>,
}

/// Compiling state: distinct probabilistic salts (their index is the correlation
/// group), runtime slots handed out so far, errors.
#[derive(Default)]
struct Compiler {
    salts: Vec<String>,
    windows: usize,
    budgets: usize,
    errors: Vec<ConfigError>,
}

impl Compiler {
    fn compile(&mut self, configs: &[PolicyConfig], path: &str) -> Vec<Policy> {
        configs
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.compile_one(c, &format!("{path}[{i}]")))
            .collect()
    }

    fn window(&mut self) -> usize {
        self.windows += 1;
        self.windows - 1
    }

    /// The block a policy of `c`'s type needs; a missing one is an error (validation
    /// reports it first, so this only keeps a policy from vanishing silently).
    fn block<'a, T>(&mut self, block: &'a Option<T>, here: &str, key: &str) -> Option<&'a T> {
        if block.is_none() {
            self.errors.push(ConfigError::new(
                format!("{here}.{key}"),
                format!("a policy of type {key} needs this block"),
            ));
        }
        block.as_ref()
    }

    fn compile_one(&mut self, c: &PolicyConfig, here: &str) -> Option<Policy> {
        let key = c.kind.key();
        let rule = self.rule(c, here, key)?;
        Some(Policy {
            name: c.name.clone(),
            rule,
        })
    }

    fn rule(&mut self, c: &PolicyConfig, here: &str, key: &str) -> Option<Rule> {
        Some(match c.kind {
            PolicyType::AlwaysSample => Rule::AlwaysSample,
            PolicyType::Latency => {
                let l = self.block(&c.latency, here, key)?;
                Rule::Latency {
                    min: l.threshold_ms.saturating_mul(1_000_000),
                    max: l.upper_threshold_ms.saturating_mul(1_000_000),
                }
            }
            PolicyType::StatusCode => Rule::StatusCode(
                self.block(&c.status_code, here, key)?
                    .status_codes
                    .iter()
                    .map(|s| s.code())
                    .collect(),
            ),
            // The block is optional: without names, any `sli.*` attribute counts.
            PolicyType::Sli => Rule::Sli(
                c.sli
                    .iter()
                    .flat_map(|s| &s.names)
                    .map(|n| crate::processors::slo::sli_attribute(n))
                    .collect(),
            ),
            PolicyType::Probabilistic => {
                let p = self.block(&c.probabilistic, here, key)?;
                let salt_group = match self.salts.iter().position(|s| *s == p.hash_salt) {
                    Some(i) => i,
                    None => {
                        self.salts.push(p.hash_salt.clone());
                        self.salts.len() - 1
                    }
                };
                let prob = (p.sampling_percentage / 100.0).clamp(0.0, 1.0);
                Rule::Probabilistic {
                    salt: p.hash_salt.clone(),
                    salt_group,
                    p: prob,
                    bound: (prob * MAX_THRESHOLD as f64).round() as u64,
                }
            }
            PolicyType::StringAttribute => {
                let s = self.block(&c.string_attribute, here, key)?;
                let regexes = if s.enabled_regex_matching {
                    match RegexSet::new(&s.values) {
                        Ok(set) => Some(set),
                        Err(set_error) => {
                            // Name each pattern that does not compile on its own; the
                            // set's error when none does (the set as a whole too big).
                            let before = self.errors.len();
                            for (j, value) in s.values.iter().enumerate() {
                                if let Err(error) = regex::Regex::new(value) {
                                    self.errors.push(ConfigError::new(
                                        format!("{here}.{key}.values[{j}]"),
                                        format!("invalid regex: {error}"),
                                    ));
                                }
                            }
                            if self.errors.len() == before {
                                self.errors.push(ConfigError::new(
                                    format!("{here}.{key}.values"),
                                    format!("invalid regexes: {set_error}"),
                                ));
                            }
                            return None;
                        }
                    }
                } else {
                    None
                };
                Rule::StringAttribute {
                    key: s.key.clone(),
                    values: if regexes.is_some() {
                        HashSet::new()
                    } else {
                        s.values.iter().cloned().collect()
                    },
                    regexes,
                    invert: s.invert_match,
                }
            }
            PolicyType::NumericAttribute => {
                let n = self.block(&c.numeric_attribute, here, key)?;
                Rule::NumericAttribute {
                    key: n.key.clone(),
                    min: n.min_value.unwrap_or(f64::NEG_INFINITY),
                    max: n.max_value.unwrap_or(f64::INFINITY),
                    invert: n.invert_match,
                }
            }
            PolicyType::RateLimiting => Rule::RateLimiting {
                limit: self.block(&c.rate_limiting, here, key)?.spans_per_second,
                window: self.window(),
            },
            PolicyType::SpanCount => {
                let s = self.block(&c.span_count, here, key)?;
                Rule::SpanCount {
                    min: s.min_spans,
                    max: s.max_spans,
                }
            }
            PolicyType::OttlCondition => {
                let o = self.block(&c.ottl_condition, here, key)?;
                let mut conditions = Vec::new();
                for (j, text) in o.span.iter().enumerate() {
                    match compile_condition(format!("{here}.{key}.span[{j}]"), text) {
                        Ok(condition) => conditions.push(condition),
                        Err(error) => self.errors.push(error),
                    }
                }
                Rule::Ottl(conditions)
            }
            PolicyType::And => {
                let a = self.block(&c.and, here, key)?;
                Rule::And(self.compile(&a.and_sub_policy, &format!("{here}.and.and_sub_policy")))
            }
            PolicyType::Composite => {
                let comp = self.block(&c.composite, here, key)?;
                let compiled = self.compile(
                    &comp.composite_sub_policy,
                    &format!("{here}.composite.composite_sub_policy"),
                );
                let mut subs: Vec<SubPolicy> = compiled
                    .into_iter()
                    .map(|policy| {
                        let percent: f64 = comp
                            .rate_allocation
                            .iter()
                            .filter(|a| a.policy == policy.name)
                            .map(|a| a.percent)
                            .sum();
                        self.budgets += 1;
                        SubPolicy {
                            allocated: (percent / 100.0 * comp.max_total_spans_per_second as f64) as u64,
                            policy,
                            used: self.budgets - 1,
                        }
                    })
                    .collect();
                if !comp.policy_order.is_empty() {
                    let rank = |name: &str| comp.policy_order.iter().position(|n| n == name).unwrap_or(usize::MAX);
                    subs.sort_by_key(|s| rank(&s.policy.name));
                }
                Rule::Composite {
                    total: comp.max_total_spans_per_second,
                    subs,
                    window: self.window(),
                }
            }
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The attribute `key` of a span, else of its resource.
fn attribute<'a>(view: &SpanView<'a>, key: &str) -> Option<&'a any_value::Value> {
    let find = |attrs: &'a [KeyValue]| attrs.iter().find(|kv| kv.key == key);
    find(&view.span.attributes)
        .or_else(|| view.resource.and_then(|r| find(&r.attributes)))?
        .value
        .as_ref()?
        .value
        .as_ref()
}

/// FNV-1a over salt and trace ID, then a 64-bit finalizer; the top 56 bits.
pub fn hash56(salt: &str, id: &TraceId) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.as_bytes().iter().chain(id.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finalizer: FNV alone leaves sequential IDs poorly spread.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    h >> 8
}

impl Policy {
    /// Judges a trace. Rate-limited policies count the spans they keep in `runtime`
    /// (made by [`Policies::runtime`] of the policies this one belongs to).
    pub fn evaluate(&self, runtime: &PolicyRuntime, trace: &TraceView<'_>, now: Instant) -> Verdict {
        match &self.rule {
            Rule::AlwaysSample => Verdict::deterministic(true),
            Rule::Latency { min, max } => {
                let (mut first, mut last) = (u64::MAX, 0u64);
                for view in trace.spans() {
                    first = first.min(view.span.start_time_unix_nano);
                    last = last.max(view.span.end_time_unix_nano);
                }
                let duration = last.saturating_sub(first);
                Verdict::deterministic(first != u64::MAX && duration >= *min && (*max == 0 || duration <= *max))
            }
            Rule::StatusCode(codes) => Verdict::deterministic(
                trace
                    .spans()
                    .any(|v| codes.contains(&v.span.status.as_ref().map_or(0, |s| s.code))),
            ),
            Rule::Sli(keys) => Verdict::deterministic(trace.spans().any(|v| {
                v.span.attributes.iter().any(|kv| {
                    let relevant = if keys.is_empty() {
                        kv.key.starts_with("sli.")
                    } else {
                        keys.contains(&kv.key)
                    };
                    relevant
                        && matches!(
                            kv.value.as_ref().and_then(|v| v.value.as_ref()),
                            Some(any_value::Value::StringValue(s)) if s == "bad"
                        )
                })
            })),
            Rule::Probabilistic {
                salt,
                salt_group,
                p,
                bound,
            } => Verdict {
                sample: hash56(salt, trace.id) < *bound,
                chance: Chance::Hash {
                    salt: *salt_group,
                    p: *p,
                },
            },
            Rule::StringAttribute {
                key,
                values,
                regexes,
                invert,
            } => {
                let matched = trace.spans().any(|v| match attribute(&v, key) {
                    Some(any_value::Value::StringValue(s)) => match regexes {
                        Some(set) => set.is_match(s),
                        None => values.contains(s.as_str()),
                    },
                    _ => false,
                });
                Verdict::deterministic(matched != *invert)
            }
            Rule::NumericAttribute { key, min, max, invert } => {
                let matched = trace.spans().any(|v| {
                    let value = match attribute(&v, key) {
                        Some(any_value::Value::IntValue(i)) => *i as f64,
                        Some(any_value::Value::DoubleValue(d)) => *d,
                        _ => return false,
                    };
                    value >= *min && value <= *max
                });
                Verdict::deterministic(matched != *invert)
            }
            Rule::RateLimiting { limit, window } => {
                let mut w = lock(&runtime.windows[*window]);
                w.roll(now);
                w.offered += trace.span_count;
                let sample = w.kept + trace.span_count <= *limit;
                if sample {
                    w.kept += trace.span_count;
                }
                Verdict {
                    sample,
                    chance: Chance::Rate(w.share()),
                }
            }
            Rule::SpanCount { min, max } => {
                let n = trace.span_count;
                Verdict::deterministic(n >= *min && (*max == 0 || n <= *max))
            }
            Rule::Ottl(conditions) => {
                Verdict::deterministic(trace.spans().any(|v| conditions.iter().any(|c| c.eval_span(&v))))
            }
            Rule::And(subs) => {
                let mut p = 1.0;
                let mut random = false;
                for sub in subs {
                    let verdict = sub.evaluate(runtime, trace, now);
                    if verdict.chance != Chance::None {
                        random = true;
                    }
                    if !verdict.sample && verdict.chance == Chance::None {
                        return Verdict::deterministic(false);
                    }
                    p *= verdict.probability();
                    if !verdict.sample {
                        return Verdict {
                            sample: false,
                            chance: Chance::Rate(p),
                        };
                    }
                }
                Verdict {
                    sample: true,
                    chance: if random { Chance::Rate(p) } else { Chance::None },
                }
            }
            Rule::Composite { total, subs, window } => {
                let mut w = lock(&runtime.windows[*window]);
                if w.start.is_none_or(|s| now.duration_since(s) >= Duration::from_secs(1)) {
                    for sub in subs {
                        *lock(&runtime.budgets[sub.used]) = 0;
                    }
                }
                w.roll(now);
                let mut any = false;
                for sub in subs {
                    let verdict = sub.policy.evaluate(runtime, trace, now);
                    if !verdict.sample {
                        continue;
                    }
                    any = true;
                    let mut used = lock(&runtime.budgets[sub.used]);
                    let after = *used + trace.span_count;
                    if after <= sub.allocated && w.kept + trace.span_count <= *total {
                        *used = after;
                        w.offered += trace.span_count;
                        w.kept += trace.span_count;
                        return Verdict {
                            sample: true,
                            chance: Chance::Rate(w.share() * verdict.probability()),
                        };
                    }
                }
                if any {
                    w.offered += trace.span_count;
                    Verdict {
                        sample: false,
                        chance: Chance::Rate(w.share()),
                    }
                } else {
                    Verdict::deterministic(false)
                }
            }
        }
    }
}

/// The probability a trace was kept with, from every top-level verdict: 1 when a
/// deterministic policy kept it; otherwise the chance that any of the random ones
/// would, treating hash policies with the same salt as one (the largest p) and the
/// rest as independent. `None` when the trace is dropped.
pub fn keep_probability(verdicts: &[Verdict]) -> Option<f64> {
    if !verdicts.iter().any(|v| v.sample) {
        return None;
    }
    if verdicts.iter().any(|v| v.sample && v.chance == Chance::None) {
        return Some(1.0);
    }
    let mut by_salt: Vec<(usize, f64)> = Vec::new();
    let mut miss = 1.0;
    for v in verdicts {
        match v.chance {
            Chance::None => {}
            Chance::Hash { salt, p } => match by_salt.iter_mut().find(|(s, _)| *s == salt) {
                Some((_, best)) => *best = best.max(p),
                None => by_salt.push((salt, p)),
            },
            Chance::Rate(p) => miss *= 1.0 - p.clamp(0.0, 1.0),
        }
    }
    for (_, p) in by_salt {
        miss *= 1.0 - p;
    }
    Some((1.0 - miss).clamp(f64::MIN_POSITIVE, 1.0))
}
