//! Sampling weights: how many original events one kept event stands for.
//!
//! OpenTelemetry's consistent probability sampling records the rejection threshold
//! in the W3C tracestate as `ot=th:<hex>`: 1-14 hex digits, right-padded with zeros
//! to 56 bits. The sampling probability is `(2^56 - T) / 2^56`, and a kept span's
//! adjusted count is its inverse. Without a threshold, a `SampleRate` attribute
//! (Honeycomb's convention: keep 1 in N) gives N; otherwise the event counts once.

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};

/// 2^56: the threshold space of OpenTelemetry's consistent sampling.
pub const MAX_THRESHOLD: u64 = 1 << 56;

/// The `th` threshold in a W3C tracestate's `ot` entry, if present and valid.
pub fn threshold(trace_state: &str) -> Option<u64> {
    let ot = trace_state
        .split(',')
        .map(str::trim)
        .find_map(|entry| entry.strip_prefix("ot="))?;
    let th = ot.split(';').find_map(|kv| kv.strip_prefix("th:"))?;
    if th.is_empty() || th.len() > 14 || !th.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let value = u64::from_str_radix(th, 16).ok()?;
    Some(value << (4 * (14 - th.len())))
}

/// The probability a threshold keeps a span with.
pub fn probability(threshold: u64) -> f64 {
    (MAX_THRESHOLD - threshold.min(MAX_THRESHOLD - 1)) as f64 / MAX_THRESHOLD as f64
}

/// How many original events this one stands for: from `ot=th:`, else from a
/// `SampleRate` attribute, else 1.
pub fn adjusted_count(trace_state: &str, attributes: &[KeyValue]) -> f64 {
    threshold_count(trace_state)
        .or_else(|| sample_rate(attributes))
        .unwrap_or(1.0)
}

/// The adjusted count an `ot=th:` threshold in `trace_state` gives, if there is one.
pub fn threshold_count(trace_state: &str) -> Option<f64> {
    if trace_state.is_empty() {
        return None;
    }
    threshold(trace_state).map(|t| 1.0 / probability(t))
}

/// A `SampleRate` attribute of at least 1 (int, double or numeric string).
pub fn sample_rate(attributes: &[KeyValue]) -> Option<f64> {
    let value = attributes
        .iter()
        .find(|kv| kv.key == "SampleRate")?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    let rate = match value {
        any_value::Value::IntValue(n) => *n as f64,
        any_value::Value::DoubleValue(d) => *d,
        any_value::Value::StringValue(s) => s.parse().ok()?,
        _ => return None,
    };
    (rate.is_finite() && rate >= 1.0).then_some(rate)
}

/// Encodes a threshold for `ot=th:` with trailing zeros removed, as the spec says
/// (25% keeps -> `c`, 1% -> `fd70a4`).
pub fn encode_threshold(threshold: u64) -> String {
    if threshold == 0 {
        return "0".into();
    }
    let hex = format!("{threshold:014x}");
    hex.trim_end_matches('0').to_string()
}

/// The threshold that keeps spans with probability `p` (clamped to (0, 1]).
pub fn threshold_for(p: f64) -> u64 {
    let keep = (p.clamp(0.0, 1.0) * MAX_THRESHOLD as f64).round() as u64;
    MAX_THRESHOLD - keep.clamp(1, MAX_THRESHOLD)
}

/// `trace_state` with its `ot` entry's `th` set to `threshold`. Other `ot` sub-keys
/// and other vendors' entries are kept; the `ot` entry moves to the front, as the
/// W3C rules ask of a modified entry.
pub fn with_threshold(trace_state: &str, threshold: u64) -> String {
    let th = format!("th:{}", encode_threshold(threshold));
    let mut ot = th.clone();
    let mut others = Vec::new();
    for entry in trace_state.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.strip_prefix("ot=") {
            Some(value) => {
                ot = std::iter::once(th.as_str())
                    .chain(value.split(';').filter(|kv| !kv.is_empty() && !kv.starts_with("th:")))
                    .collect::<Vec<_>>()
                    .join(";");
            }
            None => others.push(entry),
        }
    }
    std::iter::once(format!("ot={ot}"))
        .chain(others.into_iter().map(str::to_owned))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;

    #[test]
    fn reads_thresholds_from_tracestate() {
        assert_eq!(threshold("ot=th:c"), Some(0xc << 52));
        assert_eq!(threshold("vendor=x,ot=rv:abc;th:8 ,other=y"), Some(0x8 << 52));
        assert_eq!(threshold("ot=th:0"), Some(0));
        assert_eq!(threshold("ot=rv:123"), None);
        assert_eq!(threshold("ot=th:xyz"), None);
        assert_eq!(threshold("ot=th:123456789abcdef0"), None);
    }

    #[test]
    fn adjusted_counts_follow_the_threshold() {
        // th:8 rejects half: each kept span stands for 2.
        assert_eq!(adjusted_count("ot=th:8", &[]), 2.0);
        // th:c keeps 25%.
        assert_eq!(adjusted_count("ot=th:c", &[]), 4.0);
        assert_eq!(adjusted_count("ot=th:0", &[]), 1.0);
        assert_eq!(adjusted_count("", &[]), 1.0);
    }

    #[test]
    fn sample_rate_attribute_is_the_fallback() {
        let attrs = vec![KeyValue {
            key: "SampleRate".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(20)),
            }),
            ..Default::default()
        }];
        assert_eq!(adjusted_count("", &attrs), 20.0);
        assert_eq!(adjusted_count("ot=th:8", &attrs), 2.0, "the threshold wins");
    }

    #[test]
    fn encodes_the_specification_examples() {
        // 25% sampling: T = (1 - 0.25) * 2^56.
        assert_eq!(encode_threshold((0.75 * MAX_THRESHOLD as f64) as u64), "c");
        // 1%: the spec's example th:fd70a4 (rounded to 6 digits of precision).
        let one_percent = (0.99 * MAX_THRESHOLD as f64) as u64;
        assert!(encode_threshold(one_percent).starts_with("fd70a3d7"));
        assert_eq!(encode_threshold(0), "0");
    }

    #[test]
    fn sets_the_threshold_keeping_other_entries() {
        assert_eq!(with_threshold("", 0), "ot=th:0");
        assert_eq!(
            with_threshold("vendor=x,ot=rv:abc;th:8", 0xc << 52),
            "ot=th:c;rv:abc,vendor=x"
        );
        assert_eq!(threshold(&with_threshold("a=b", threshold_for(0.25))), Some(0xc << 52));
        assert_eq!(threshold_for(1.0), 0);
        assert_eq!(threshold_for(0.0), MAX_THRESHOLD - 1);
    }
}
