//! `tail_sampling` processor config, with the Collector's keys and shape.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;

use crate::confmap::{deserialize_duration, did_you_mean, ConfigError, Locate, Validate};
use crate::ottl::{Condition, Context};

/// `processors.tail_sampling`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailSamplingConfig {
    /// How long after a trace's first span it is decided (default 30s).
    #[serde(default = "default_decision_wait", deserialize_with = "deserialize_duration")]
    pub decision_wait: Duration,
    /// Traces held at once (default 50000); when full the oldest is decided early.
    #[serde(default = "default_num_traces")]
    pub num_traces: usize,
    /// A sizing hint for the trace maps (default 0).
    #[serde(default)]
    pub expected_new_traces_per_sec: usize,
    /// Sizes of the caches of past decisions, for late spans.
    #[serde(default)]
    pub decision_cache: DecisionCacheConfig,
    /// Write `tailsampling.policy` on kept spans.
    #[serde(default)]
    pub record_policy: bool,
    /// The policies; a trace is kept when any of them says so.
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
}

fn default_decision_wait() -> Duration {
    Duration::from_secs(30)
}

fn default_num_traces() -> usize {
    50_000
}

/// `decision_cache`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionCacheConfig {
    /// Trace IDs of kept traces remembered (default 100000; 0 = none).
    #[serde(default = "default_cache_size")]
    pub sampled_cache_size: usize,
    /// Trace IDs of dropped traces remembered (default 100000; 0 = none).
    #[serde(default = "default_cache_size")]
    pub non_sampled_cache_size: usize,
}

impl Default for DecisionCacheConfig {
    fn default() -> Self {
        Self {
            sampled_cache_size: default_cache_size(),
            non_sampled_cache_size: default_cache_size(),
        }
    }
}

fn default_cache_size() -> usize {
    100_000
}

/// Policy types, by their config name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyType {
    /// Keeps every trace.
    AlwaysSample,
    /// Keeps traces lasting at least `threshold_ms`.
    Latency,
    /// Keeps traces with a span of one of the status codes.
    StatusCode,
    /// Keeps traces with a `bad` SLI event (sloop's own).
    Sli,
    /// Keeps a fraction of traces, by trace ID hash.
    Probabilistic,
    /// Keeps traces with a string attribute value.
    StringAttribute,
    /// Keeps traces with a numeric attribute in a range.
    NumericAttribute,
    /// Keeps traces while under a spans-per-second budget.
    RateLimiting,
    /// Keeps traces with a span count in a range.
    SpanCount,
    /// Keeps traces with a span matching a condition.
    OttlCondition,
    /// Keeps traces every sub-policy keeps.
    And,
    /// Sub-policies sharing a spans-per-second budget.
    Composite,
}

impl PolicyType {
    /// The config key of the type's own block (and its `type` value).
    pub fn key(self) -> &'static str {
        match self {
            PolicyType::AlwaysSample => "always_sample",
            PolicyType::Latency => "latency",
            PolicyType::StatusCode => "status_code",
            PolicyType::Sli => "sli",
            PolicyType::Probabilistic => "probabilistic",
            PolicyType::StringAttribute => "string_attribute",
            PolicyType::NumericAttribute => "numeric_attribute",
            PolicyType::RateLimiting => "rate_limiting",
            PolicyType::SpanCount => "span_count",
            PolicyType::OttlCondition => "ottl_condition",
            PolicyType::And => "and",
            PolicyType::Composite => "composite",
        }
    }
}

/// One policy: a name, a type, and the block named after the type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Unique among its siblings; shows in metrics and `tailsampling.policy`.
    pub name: String,
    /// Which policy.
    #[serde(rename = "type")]
    pub kind: PolicyType,
    /// `latency`.
    pub latency: Option<LatencyConfig>,
    /// `status_code`.
    pub status_code: Option<StatusCodeConfig>,
    /// `sli`.
    pub sli: Option<SliPolicyConfig>,
    /// `probabilistic`.
    pub probabilistic: Option<ProbabilisticConfig>,
    /// `string_attribute`.
    pub string_attribute: Option<StringAttributeConfig>,
    /// `numeric_attribute`.
    pub numeric_attribute: Option<NumericAttributeConfig>,
    /// `rate_limiting`.
    pub rate_limiting: Option<RateLimitingConfig>,
    /// `span_count`.
    pub span_count: Option<SpanCountConfig>,
    /// `ottl_condition`.
    pub ottl_condition: Option<OttlConditionConfig>,
    /// `and`.
    pub and: Option<AndConfig>,
    /// `composite`.
    pub composite: Option<CompositeConfig>,
}

impl PolicyConfig {
    /// The type blocks present, by key.
    fn blocks(&self) -> Vec<&'static str> {
        let present = [
            ("latency", self.latency.is_some()),
            ("status_code", self.status_code.is_some()),
            ("sli", self.sli.is_some()),
            ("probabilistic", self.probabilistic.is_some()),
            ("string_attribute", self.string_attribute.is_some()),
            ("numeric_attribute", self.numeric_attribute.is_some()),
            ("rate_limiting", self.rate_limiting.is_some()),
            ("span_count", self.span_count.is_some()),
            ("ottl_condition", self.ottl_condition.is_some()),
            ("and", self.and.is_some()),
            ("composite", self.composite.is_some()),
        ];
        present.iter().filter(|(_, p)| *p).map(|(k, _)| *k).collect()
    }
}

/// `latency`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    /// Keep traces lasting at least this long (first span start to last span end).
    pub threshold_ms: u64,
    /// And at most this long (0 = no upper bound).
    #[serde(default)]
    pub upper_threshold_ms: u64,
}

/// Span status codes as written in the Collector's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum StatusCodeName {
    /// `STATUS_CODE_OK`.
    #[serde(rename = "OK")]
    Ok,
    /// `STATUS_CODE_ERROR`.
    #[serde(rename = "ERROR")]
    Error,
    /// `STATUS_CODE_UNSET`.
    #[serde(rename = "UNSET")]
    Unset,
}

impl StatusCodeName {
    /// The OTLP enum value.
    pub fn code(self) -> i32 {
        match self {
            StatusCodeName::Unset => 0,
            StatusCodeName::Ok => 1,
            StatusCodeName::Error => 2,
        }
    }
}

/// `status_code`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusCodeConfig {
    /// Keep traces with a span of any of these.
    pub status_codes: Vec<StatusCodeName>,
}

/// `sli` (sloop's own).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliPolicyConfig {
    /// SLI names whose `bad` events keep a trace; empty = any `sli.*`.
    #[serde(default)]
    pub names: Vec<String>,
}

/// `probabilistic`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilisticConfig {
    /// Percent of traces kept, 0 to 100.
    pub sampling_percentage: f64,
    /// Mixed into the trace ID hash; policies with different salts decide independently.
    #[serde(default)]
    pub hash_salt: String,
}

/// `string_attribute`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringAttributeConfig {
    /// Span or resource attribute key.
    pub key: String,
    /// Values (or regular expressions) to match.
    pub values: Vec<String>,
    /// Treat `values` as regular expressions (unanchored, as in the Collector).
    #[serde(default)]
    pub enabled_regex_matching: bool,
    /// Keep traces where no span matches instead.
    #[serde(default)]
    pub invert_match: bool,
}

/// `numeric_attribute`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumericAttributeConfig {
    /// Span or resource attribute key (int or double values).
    pub key: String,
    /// Lower bound, inclusive (default: none).
    pub min_value: Option<f64>,
    /// Upper bound, inclusive (default: none).
    pub max_value: Option<f64>,
    /// Keep traces where no span matches instead.
    #[serde(default)]
    pub invert_match: bool,
}

/// `rate_limiting`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitingConfig {
    /// Spans kept per second at most.
    pub spans_per_second: u64,
}

/// `span_count`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanCountConfig {
    /// Keep traces with at least this many spans.
    pub min_spans: u64,
    /// And at most this many (0 = no upper bound).
    #[serde(default)]
    pub max_spans: u64,
}

/// What happens when a condition fails at run time (ours cannot; accepted for compatibility).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorMode {
    /// Default.
    #[default]
    Ignore,
    /// Same as ignore, without logging.
    Silent,
    /// Same as ignore here.
    Propagate,
}

/// `ottl_condition`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OttlConditionConfig {
    /// Accepted for compatibility: conditions cannot fail at run time.
    #[serde(default)]
    pub error_mode: ErrorMode,
    /// Keep traces with a span matching any of these.
    #[serde(default)]
    pub span: Vec<String>,
    /// Span event conditions: not supported (an error when given).
    #[serde(default)]
    pub spanevent: Vec<String>,
}

/// `and`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndConfig {
    /// Every one must keep the trace.
    pub and_sub_policy: Vec<PolicyConfig>,
}

/// `composite`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositeConfig {
    /// The budget shared by the sub-policies.
    pub max_total_spans_per_second: u64,
    /// Sub-policy names in evaluation order (default: as listed).
    #[serde(default)]
    pub policy_order: Vec<String>,
    /// The sub-policies.
    pub composite_sub_policy: Vec<PolicyConfig>,
    /// Each sub-policy's share of the budget; unlisted sub-policies get none.
    #[serde(default)]
    pub rate_allocation: Vec<RateAllocation>,
}

/// One `rate_allocation` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateAllocation {
    /// A sub-policy name.
    pub policy: String,
    /// Percent of `max_total_spans_per_second`.
    pub percent: f64,
}

impl Validate for TailSamplingConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.decision_wait.is_zero() {
            errors.push(ConfigError::new("decision_wait", "must be greater than 0"));
        }
        if self.num_traces == 0 {
            errors.push(ConfigError::new("num_traces", "must be greater than 0"));
        }
        if self.policies.is_empty() {
            errors.push(ConfigError::new("policies", "at least one policy is required"));
        }
        validate_policies(&self.policies, "policies", &mut errors);
        errors
    }
}

fn validate_policies(policies: &[PolicyConfig], path: &str, errors: &mut Vec<ConfigError>) {
    let mut seen = BTreeSet::new();
    for (i, policy) in policies.iter().enumerate() {
        let here = format!("{path}[{i}]");
        if policy.name.is_empty() {
            errors.push(ConfigError::new(format!("{here}.name"), "must not be empty"));
        } else if !seen.insert(policy.name.as_str()) {
            errors.push(ConfigError::new(
                format!("{here}.name"),
                format!("duplicate policy name {:?}", policy.name),
            ));
        }
        validate_policy(policy, &here, errors);
    }
}

fn validate_policy(policy: &PolicyConfig, here: &str, errors: &mut Vec<ConfigError>) {
    let key = policy.kind.key();
    for block in policy.blocks() {
        if block != key {
            errors.push(ConfigError::new(
                format!("{here}.{block}"),
                format!("only the `{key}` block applies to a policy of type {key}"),
            ));
        }
    }
    let missing = || {
        ConfigError::new(
            format!("{here}.{key}"),
            format!("a policy of type {key} needs this block"),
        )
    };
    let at = |field: &str| format!("{here}.{key}.{field}");
    match policy.kind {
        PolicyType::AlwaysSample => {}
        PolicyType::Latency => match &policy.latency {
            None => errors.push(missing()),
            Some(l) => {
                if l.upper_threshold_ms != 0 && l.upper_threshold_ms < l.threshold_ms {
                    errors.push(ConfigError::new(
                        at("upper_threshold_ms"),
                        "must be 0 (no upper bound) or at least threshold_ms",
                    ));
                }
            }
        },
        PolicyType::StatusCode => match &policy.status_code {
            None => errors.push(missing()),
            Some(s) if s.status_codes.is_empty() => errors.push(ConfigError::new(
                at("status_codes"),
                "at least one status code is required",
            )),
            Some(_) => {}
        },
        PolicyType::Sli => {
            // An empty block (or none) means any SLI.
            for (j, name) in policy.sli.iter().flat_map(|s| s.names.iter()).enumerate() {
                if name.is_empty() {
                    errors.push(ConfigError::new(at(&format!("names[{j}]")), "must not be empty"));
                }
            }
        }
        PolicyType::Probabilistic => match &policy.probabilistic {
            None => errors.push(missing()),
            Some(p) => {
                if !(0.0..=100.0).contains(&p.sampling_percentage) {
                    errors.push(ConfigError::new(at("sampling_percentage"), "must be between 0 and 100"));
                }
            }
        },
        PolicyType::StringAttribute => match &policy.string_attribute {
            None => errors.push(missing()),
            Some(s) => {
                if s.key.is_empty() {
                    errors.push(ConfigError::new(at("key"), "must not be empty"));
                }
                if s.values.is_empty() {
                    errors.push(ConfigError::new(at("values"), "at least one value is required"));
                }
            }
        },
        PolicyType::NumericAttribute => match &policy.numeric_attribute {
            None => errors.push(missing()),
            Some(n) => {
                if n.key.is_empty() {
                    errors.push(ConfigError::new(at("key"), "must not be empty"));
                }
                match (n.min_value, n.max_value) {
                    (None, None) => errors.push(ConfigError::new(
                        format!("{here}.{key}"),
                        "set min_value, max_value or both",
                    )),
                    (Some(min), Some(max)) if max < min => {
                        errors.push(ConfigError::new(at("max_value"), "must be at least min_value"))
                    }
                    _ => {}
                }
            }
        },
        PolicyType::RateLimiting => match &policy.rate_limiting {
            None => errors.push(missing()),
            Some(r) if r.spans_per_second == 0 => {
                errors.push(ConfigError::new(at("spans_per_second"), "must be greater than 0"))
            }
            Some(_) => {}
        },
        PolicyType::SpanCount => match &policy.span_count {
            None => errors.push(missing()),
            Some(s) => {
                if s.max_spans != 0 && s.max_spans < s.min_spans {
                    errors.push(ConfigError::new(
                        at("max_spans"),
                        "must be 0 (no upper bound) or at least min_spans",
                    ));
                }
            }
        },
        PolicyType::OttlCondition => match &policy.ottl_condition {
            None => errors.push(missing()),
            Some(o) => {
                if !o.spanevent.is_empty() {
                    errors.push(ConfigError::new(
                        at("spanevent"),
                        "span event conditions are not supported; use `span`",
                    ));
                }
                if o.span.is_empty() {
                    errors.push(ConfigError::new(at("span"), "at least one condition is required"));
                }
            }
        },
        PolicyType::And => match &policy.and {
            None => errors.push(missing()),
            Some(a) => {
                if a.and_sub_policy.is_empty() {
                    errors.push(ConfigError::new(
                        at("and_sub_policy"),
                        "at least one sub-policy is required",
                    ));
                }
                validate_policies(&a.and_sub_policy, &at("and_sub_policy"), errors);
            }
        },
        PolicyType::Composite => match &policy.composite {
            None => errors.push(missing()),
            Some(c) => validate_composite(c, &format!("{here}.{key}"), errors),
        },
    }
}

fn validate_composite(c: &CompositeConfig, path: &str, errors: &mut Vec<ConfigError>) {
    if c.max_total_spans_per_second == 0 {
        errors.push(ConfigError::new(
            format!("{path}.max_total_spans_per_second"),
            "must be greater than 0",
        ));
    }
    if c.composite_sub_policy.is_empty() {
        errors.push(ConfigError::new(
            format!("{path}.composite_sub_policy"),
            "at least one sub-policy is required",
        ));
    }
    validate_policies(&c.composite_sub_policy, &format!("{path}.composite_sub_policy"), errors);
    let names: Vec<&str> = c.composite_sub_policy.iter().map(|p| p.name.as_str()).collect();
    let unknown = |name: &str| {
        let hint = match did_you_mean(name, names.iter().copied()) {
            Some(best) => format!(", did you mean {best}?"),
            None => format!(" (sub-policies: {})", names.join(", ")),
        };
        format!("{name:?} is not a composite_sub_policy name{hint}")
    };
    let mut ordered = BTreeSet::new();
    for (j, name) in c.policy_order.iter().enumerate() {
        if !names.contains(&name.as_str()) {
            errors.push(ConfigError::new(format!("{path}.policy_order[{j}]"), unknown(name)));
        } else if !ordered.insert(name.as_str()) {
            errors.push(ConfigError::new(
                format!("{path}.policy_order[{j}]"),
                format!("{name:?} is listed twice"),
            ));
        }
    }
    let mut total = 0.0;
    for (j, allocation) in c.rate_allocation.iter().enumerate() {
        if !names.contains(&allocation.policy.as_str()) {
            errors.push(ConfigError::new(
                format!("{path}.rate_allocation[{j}].policy"),
                unknown(&allocation.policy),
            ));
        }
        if !(0.0..=100.0).contains(&allocation.percent) {
            errors.push(ConfigError::new(
                format!("{path}.rate_allocation[{j}].percent"),
                "must be between 0 and 100",
            ));
        }
        total += allocation.percent;
    }
    if total > 100.0 + 1e-9 {
        errors.push(ConfigError::new(
            format!("{path}.rate_allocation"),
            format!("percentages add up to {total}, more than 100"),
        ));
    }
}

/// Compiles the conditions of every `ottl_condition` policy, in order of the config;
/// errors carry the position inside the condition.
pub(super) fn compile_condition(path: String, text: &str) -> Result<Condition, ConfigError> {
    Condition::parse(text, Context::Span).map_err(|error| {
        ConfigError::new(path, error.message.clone()).located(Locate {
            text: text.to_owned(),
            line: error.line,
            column: error.column,
        })
    })
}
