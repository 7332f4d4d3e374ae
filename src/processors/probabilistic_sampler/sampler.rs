//! The sampling decision, per span or log record, following the Collector's
//! probabilisticsamplerprocessor: find the item's randomness, check it against a
//! threshold arriving with it, decide by the mode, and record the threshold used on
//! what is kept.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::config::{AttributeSource, ProbabilisticSamplerConfig, SamplerMode, MIN_PROBABILITY};
use super::tracestate::{parse_randomness, parse_threshold, TraceState};
use crate::pdata::sampling::{encode_threshold, probability, MAX_THRESHOLD};

/// Keeps everything: every randomness is at least 0.
pub const ALWAYS: u64 = 0;
/// Keeps nothing: randomness is below 2^56.
pub const NEVER: u64 = MAX_THRESHOLD;

/// Hash buckets of the `hash_seed` mode: 14 bits.
const NUM_HASH_BUCKETS: u32 = 0x4000;
const HASH_BUCKET_BITS: u32 = 14;

/// Record attributes carrying consistent-sampling values on logs (semantic conventions).
const LOG_THRESHOLD: &str = "sampling.threshold";
const LOG_RANDOMNESS: &str = "sampling.randomness";

/// Where an item's randomness came from: the Collector's `policy` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// FNV hash of the trace id (`hash_seed` mode).
    TraceIdHash,
    /// The low 56 bits of the trace id.
    TraceIdW3c,
    /// An explicit `rv` (or `sampling.randomness`).
    SamplingRandomness,
    /// A hash of the `from_attribute` record attribute.
    Attribute,
    /// None found.
    MissingRandomness,
    /// The span's `sampling.priority` attribute decided.
    SamplingPriority,
}

impl Policy {
    /// Every policy, in label-index order.
    pub const ALL: [Policy; 6] = [
        Policy::TraceIdHash,
        Policy::TraceIdW3c,
        Policy::SamplingRandomness,
        Policy::Attribute,
        Policy::MissingRandomness,
        Policy::SamplingPriority,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::TraceIdHash => "trace_id_hash",
            Policy::TraceIdW3c => "trace_id_w3c",
            Policy::SamplingRandomness => "sampling_randomness",
            Policy::Attribute => "attribute",
            Policy::MissingRandomness => "missing_randomness",
            Policy::SamplingPriority => "sampling_priority",
        }
    }
}

/// How the threshold is found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Decide {
    /// 0%: nothing is kept (but missing randomness may still fail open).
    Never,
    /// `hash_seed`: a fixed threshold on 14 hash bits.
    Hash { threshold: u64 },
    /// `equalizing`: a fixed threshold; an arriving stricter one stays.
    Equalizing { threshold: u64 },
    /// `proportional`: the arriving probability times `ratio`.
    Proportional { ratio: f64 },
}

/// One instance's settings, resolved for a signal.
#[derive(Debug, Clone)]
pub struct Sampler {
    decide: Decide,
    /// Randomness from the FNV hash (`hash_seed` mode) rather than the spec.
    hashing: bool,
    hash_seed: u32,
    fail_closed: bool,
    precision: u8,
    trace_id_source: bool,
    from_attribute: String,
    sampling_priority: String,
}

/// The item's randomness, or why there is none.
#[derive(Debug, Clone, Copy)]
struct Randomness {
    value: Option<u64>,
    policy: Policy,
}

impl Randomness {
    const MISSING: Randomness = Randomness {
        value: None,
        policy: Policy::MissingRandomness,
    };

    /// As in the Collector, missing randomness compares as the largest value, so a
    /// fail-open (always) threshold keeps the item and a never threshold drops it.
    fn or_max(self) -> u64 {
        self.value.unwrap_or(MAX_THRESHOLD - 1)
    }
}

/// FNV-1a (32 bits) of the seed's four little-endian bytes, then `bytes`.
pub fn fnv_hash(bytes: &[u8], seed: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in seed.to_le_bytes().iter().chain(bytes) {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// The Collector's 56-bit randomness from a hash: the top 14 bits are
/// `16383 - (hash % 16384)`, so `randomness >= threshold` is the original
/// `hash % 16384 < percent * 163.84`.
pub fn randomness_from_bytes(bytes: &[u8], seed: u32) -> u64 {
    let hashed32 = fnv_hash(bytes, seed);
    let hashed = u64::from(hashed32 & (NUM_HASH_BUCKETS - 1));
    let rprime14 = u64::from(NUM_HASH_BUCKETS) - 1 - hashed;
    let unused18 = u64::from(hashed32 >> (32 - HASH_BUCKET_BITS));
    let mixed28 = (unused18 ^ (unused18 << 10)) & ((1 << 28) - 1);
    (rprime14 << 42) | (mixed28 << 14) | hashed
}

/// The exponent of `math.Frexp`: `x = frac * 2^exp` with `frac` in [0.5, 1).
fn frexp_exponent(x: f64) -> i32 {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    let (mut x, mut adjust) = (x.abs(), 0);
    if x < f64::MIN_POSITIVE {
        x *= (1u64 << 52) as f64;
        adjust = -52;
    }
    ((x.to_bits() >> 52) & 0x7ff) as i32 - 1022 + adjust
}

/// A sampling probability as a rejection threshold, rounded to `precision` hex
/// digits plus one per leading `0` or `f` (the Collector's
/// `ProbabilityToThresholdWithPrecision`). `None` outside [2^-56, 1].
pub fn probability_to_threshold(fraction: f64, precision: u8) -> Option<u64> {
    if !(MIN_PROBABILITY..=1.0).contains(&fraction) {
        return None;
    }
    if fraction == 1.0 {
        return Some(ALWAYS);
    }
    let precision = if precision == 0 {
        14
    } else {
        i32::from(precision.min(14))
    };
    let extra = (frexp_exponent(fraction) / -4).max(frexp_exponent(1.0 - fraction) / -4);
    let precision = (precision + extra).min(14);
    let scaled = (fraction * MAX_THRESHOLD as f64).round() as u64;
    let mut threshold = MAX_THRESHOLD - scaled.min(MAX_THRESHOLD);
    let shift = 4 * (14 - precision) as u32;
    if shift != 0 {
        threshold += 1 << (shift - 1);
        threshold >>= shift;
        threshold <<= shift;
    }
    Some(threshold)
}

/// What a `sampling.priority`-style value asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    Defer,
    Must,
    MustNot,
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

fn number(value: &any_value::Value) -> Option<f64> {
    match value {
        any_value::Value::IntValue(i) => Some(*i as f64),
        any_value::Value::DoubleValue(d) => Some(*d),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The OpenTracing `sampling.priority` span attribute: 0 drops, above 0 keeps.
fn span_priority(span: &Span) -> Priority {
    match attribute(&span.attributes, "sampling.priority").and_then(number) {
        Some(p) if p > 0.0 => Priority::Must,
        Some(p) => {
            if p == 0.0 {
                Priority::MustNot
            } else {
                Priority::Defer
            }
        }
        None => Priority::Defer,
    }
}

fn set_string(attributes: &mut Vec<KeyValue>, key: &str, value: String) {
    let value = Some(AnyValue {
        value: Some(any_value::Value::StringValue(value)),
    });
    match attributes.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = value,
        None => attributes.push(KeyValue {
            key: key.to_string(),
            value,
            ..Default::default()
        }),
    }
}

fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attribute(attributes, key)? {
        any_value::Value::StringValue(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// A trace id usable as randomness: 16 bytes, not all zero.
fn valid_trace_id(id: &[u8]) -> Option<&[u8]> {
    (id.len() == 16 && id.iter().any(|b| *b != 0)).then_some(id)
}

/// The W3C randomness of a trace id: its low 56 bits.
fn trace_id_randomness(id: &[u8]) -> u64 {
    id[9..16].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

impl Sampler {
    /// Resolves the settings for traces (`logs` false) or logs.
    pub fn new(config: &ProbabilisticSamplerConfig, logs: bool) -> Sampler {
        let pct = config.sampling_percentage.clamp(0.0, 100.0);
        let mode = config.mode.unwrap_or(
            if config.hash_seed != 0 || (logs && config.attribute_source != AttributeSource::TraceId) {
                SamplerMode::HashSeed
            } else {
                SamplerMode::Proportional
            },
        );
        let ratio = (f64::from(pct) / 100.0).max(MIN_PROBABILITY);
        let decide = if pct == 0.0 {
            Decide::Never
        } else {
            match mode {
                SamplerMode::Equalizing => Decide::Equalizing {
                    threshold: probability_to_threshold(ratio, config.sampling_precision).unwrap_or(NEVER),
                },
                SamplerMode::Proportional => Decide::Proportional { ratio },
                SamplerMode::HashSeed => {
                    // As the Collector: the product in 32-bit floats, rounded down.
                    let scaled = (pct * (NUM_HASH_BUCKETS as f32 / 100.0)) as u32;
                    if scaled == 0 {
                        Decide::Never
                    } else {
                        Decide::Hash {
                            threshold: u64::from(NUM_HASH_BUCKETS - scaled.min(NUM_HASH_BUCKETS)) << 42,
                        }
                    }
                }
            }
        };
        Sampler {
            hashing: matches!(decide, Decide::Hash { .. }),
            decide,
            hash_seed: config.hash_seed,
            fail_closed: config.fail_closed,
            precision: config.sampling_precision,
            trace_id_source: config.attribute_source == AttributeSource::TraceId,
            from_attribute: config.from_attribute.clone(),
            sampling_priority: config.sampling_priority.clone(),
        }
    }

    /// The threshold the mode sets, given the one arriving with the item.
    fn threshold(&self, arriving: Option<u64>) -> u64 {
        match self.decide {
            Decide::Never => NEVER,
            Decide::Hash { threshold } | Decide::Equalizing { threshold } => threshold,
            Decide::Proportional { ratio } => {
                let incoming = arriving.map_or(1.0, probability);
                // Below the smallest probability the item is simply not sampled.
                probability_to_threshold(incoming * ratio, self.precision).unwrap_or(NEVER)
            }
        }
    }

    /// The threshold for an item whose randomness or sampling state is unusable.
    fn failed(&self) -> u64 {
        if self.fail_closed {
            NEVER
        } else {
            ALWAYS
        }
    }

    /// Decides one span, updating its tracestate when it is kept. Returns whether
    /// to keep it and the policy that decided.
    pub fn sample_span(&self, span: &mut Span) -> (bool, Policy) {
        let priority = span_priority(span);
        if priority == Priority::MustNot {
            return (false, Policy::SamplingPriority);
        }
        let parsed = TraceState::parse(&span.trace_state);
        let mut state_changed = false;
        let (randomness, mut state, mut ok) = match parsed {
            Err(_) => {
                // Randomness from the trace id still counts for the hash mode.
                let rnd = match valid_trace_id(&span.trace_id) {
                    Some(id) if self.hashing => Randomness {
                        value: Some(randomness_from_bytes(id, self.hash_seed)),
                        policy: Policy::TraceIdHash,
                    },
                    _ => Randomness::MISSING,
                };
                (rnd, None, false)
            }
            Ok(mut state) => {
                let mut ok = true;
                let rnd = if self.hashing {
                    let rnd = valid_trace_id(&span.trace_id).map_or(Randomness::MISSING, |id| Randomness {
                        value: Some(randomness_from_bytes(id, self.hash_seed)),
                        policy: Policy::TraceIdHash,
                    });
                    // Consistent-sampling values already present must be left alone:
                    // this mode cannot honour them.
                    if state.randomness().is_some() || state.threshold().is_some() {
                        ok = false;
                    } else if let Some(value) = rnd.value {
                        state.set_randomness(value);
                        state_changed = true;
                    }
                    rnd
                } else if let Some(rv) = state.randomness() {
                    Randomness {
                        value: Some(rv),
                        policy: Policy::SamplingRandomness,
                    }
                } else if let Some(id) = valid_trace_id(&span.trace_id) {
                    Randomness {
                        value: Some(trace_id_randomness(id)),
                        policy: Policy::TraceIdW3c,
                    }
                } else {
                    Randomness::MISSING
                };
                (rnd, Some(state), ok)
            }
        };
        if ok {
            ok = consistent(randomness, state.as_mut(), &mut state_changed);
        }
        let mut threshold = if ok {
            self.threshold(state.as_ref().and_then(TraceState::threshold))
        } else {
            self.failed()
        };
        if priority == Priority::Must {
            threshold = ALWAYS;
        }
        let sampled = randomness.or_max() >= threshold;
        if sampled {
            if let Some(state) = state.as_mut() {
                // The threshold may only rise: an arriving stricter one stays.
                if state.threshold().is_none_or(|existing| existing <= threshold) && threshold < NEVER {
                    state.set_threshold(threshold);
                    state_changed = true;
                }
                if state_changed {
                    span.trace_state = state.serialize();
                }
            }
        }
        let policy = if priority == Priority::Must {
            Policy::SamplingPriority
        } else {
            randomness.policy
        };
        (sampled, policy)
    }

    /// Decides one log record, recording `sampling.threshold` (and, in the hash
    /// mode, `sampling.randomness`) on kept records.
    pub fn sample_log(&self, log: &mut LogRecord) -> (bool, Policy) {
        // The record's consistent-sampling attributes; a malformed one is an error.
        let th_text = string_attribute(&log.attributes, LOG_THRESHOLD);
        let rv_text = string_attribute(&log.attributes, LOG_RANDOMNESS);
        let arriving_th = th_text.map(parse_threshold);
        let arriving_rv = rv_text.map(parse_randomness);
        let carrier_ok = !matches!(arriving_th, Some(None)) && !matches!(arriving_rv, Some(None));
        let mut arriving_th = arriving_th.flatten();
        let arriving_rv = arriving_rv.flatten();

        let from_attribute = || {
            if self.from_attribute.is_empty() {
                return Randomness::MISSING;
            }
            match attribute(&log.attributes, &self.from_attribute).and_then(value_bytes_hash(self.hash_seed)) {
                Some(value) => Randomness {
                    value: Some(value),
                    policy: Policy::Attribute,
                },
                None => Randomness::MISSING,
            }
        };
        let trace_id = valid_trace_id(&log.trace_id);
        let mut ok = carrier_ok;
        let mut set_rv = None;
        let randomness = if self.hashing {
            let rnd = match trace_id {
                Some(id) if self.trace_id_source => Randomness {
                    value: Some(randomness_from_bytes(id, self.hash_seed)),
                    policy: Policy::TraceIdHash,
                },
                _ => from_attribute(),
            };
            if arriving_rv.is_some() || arriving_th.is_some() {
                ok = false;
            } else {
                set_rv = rnd.value;
            }
            rnd
        } else if !carrier_ok {
            Randomness::MISSING
        } else if let Some(rv) = arriving_rv {
            Randomness {
                value: Some(rv),
                policy: Policy::SamplingRandomness,
            }
        } else if let Some(id) = trace_id.filter(|_| self.trace_id_source) {
            Randomness {
                value: Some(trace_id_randomness(id)),
                policy: Policy::TraceIdW3c,
            }
        } else {
            from_attribute()
        };
        let mut clear_th = false;
        if ok {
            match (randomness.value, arriving_th) {
                (None, _) => ok = false,
                (Some(r), Some(th)) if r < th => {
                    // The arriving threshold is a lie for this randomness: drop it.
                    arriving_th = None;
                    clear_th = true;
                    ok = false;
                }
                _ => {}
            }
        }
        let mut threshold = if ok { self.threshold(arriving_th) } else { self.failed() };
        if !self.sampling_priority.is_empty() {
            if let Some(pct) = attribute(&log.attributes, &self.sampling_priority).and_then(number) {
                threshold = if pct >= 100.0 {
                    ALWAYS
                } else if pct > 0.0 {
                    probability_to_threshold(pct / 100.0, self.precision).unwrap_or(NEVER)
                } else {
                    NEVER
                };
            }
        }
        let sampled = randomness.or_max() >= threshold;
        if sampled && carrier_ok {
            if clear_th {
                log.attributes.retain(|kv| kv.key != LOG_THRESHOLD);
            }
            if let Some(rv) = set_rv {
                set_string(&mut log.attributes, LOG_RANDOMNESS, format!("{rv:014x}"));
            }
            if arriving_th.is_none_or(|existing| existing <= threshold) && threshold < NEVER {
                set_string(&mut log.attributes, LOG_THRESHOLD, encode_threshold(threshold));
            }
        }
        (sampled, randomness.policy)
    }
}

/// The Collector's consistency check: without randomness nothing can be decided;
/// an arriving threshold the randomness does not pass is removed, and is an error.
fn consistent(randomness: Randomness, state: Option<&mut TraceState>, changed: &mut bool) -> bool {
    let Some(value) = randomness.value else {
        return false;
    };
    if let Some(state) = state {
        if state.threshold().is_some_and(|th| value < th) {
            state.clear_threshold();
            *changed = true;
            return false;
        }
    }
    true
}

/// Hashes an attribute value as the Collector does (bytes as they are, everything
/// else as its string form). Maps and lists have no randomness.
fn value_bytes_hash(seed: u32) -> impl Fn(&any_value::Value) -> Option<u64> {
    move |value| {
        let text;
        let bytes: &[u8] = match value {
            any_value::Value::BytesValue(b) => b,
            any_value::Value::StringValue(s) => s.as_bytes(),
            any_value::Value::IntValue(i) => {
                text = i.to_string();
                text.as_bytes()
            }
            any_value::Value::DoubleValue(d) => {
                text = d.to_string();
                text.as_bytes()
            }
            any_value::Value::BoolValue(b) => {
                if *b {
                    b"true"
                } else {
                    b"false"
                }
            }
            _ => return None,
        };
        Some(randomness_from_bytes(bytes, seed))
    }
}
