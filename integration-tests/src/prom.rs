//! A minimal parser for the Prometheus text exposition format.
//!
//! Only what the tests need: sample lines `name{label="value",...} value
//! [timestamp]` and `name value [timestamp]`; `#` lines and blank lines are
//! skipped. Label values may contain the escapes `\\`, `\"` and `\n`.

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Parses every sample line of `text`. Lines that cannot be parsed are
/// skipped (the tests then fail on the missing value, with the text shown).
pub fn parse_samples(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

/// Sum of the values of all samples named exactly `name` whose labels
/// include every `(key, value)` pair in `filter`; `0.0` if none match.
///
/// ```
/// let text = "# TYPE x counter\nx{exporter=\"a\",kind=\"k\"} 2\nx{exporter=\"b\"} 5\nx{exporter=\"a\"} 1\n";
/// assert_eq!(integration_tests::metric_sum(text, "x", &[("exporter", "a")]), 3.0);
/// assert_eq!(integration_tests::metric_sum(text, "x", &[]), 8.0);
/// assert_eq!(integration_tests::metric_sum(text, "y", &[]), 0.0);
/// ```
pub fn metric_sum(text: &str, name: &str, filter: &[(&str, &str)]) -> f64 {
    parse_samples(text)
        .into_iter()
        .filter(|s| s.name == name)
        .filter(|s| filter.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after_brace)?;
        labels = parsed;
        rest = remaining;
    }
    let value_str = rest.split_whitespace().next()?;
    let value = parse_value(value_str)?;
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `key="value",key2="value2"}` (the opening brace already consumed);
/// returns the labels and what follows the closing brace.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Some((labels, rest));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        s = s[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                other => value.push(other),
            }
        };
        labels.push((key, value));
        s = s[end + 1..].trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        }
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        other => other.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_escapes_and_timestamps() {
        let text = r#"
# HELP otelcol_exporter_sent_spans Spans sent.
# TYPE otelcol_exporter_sent_spans counter
otelcol_exporter_sent_spans{exporter="otlp_grpc/a"} 10
otelcol_exporter_sent_spans{exporter="otlp_grpc/b",service="x \"y\", z"} 7 1700000000000
otelcol_exporter_queue_size{exporter="otlp_grpc/a"} 0
plain_metric 3.5
inf_metric{le="+Inf"} +Inf
"#;
        let samples = parse_samples(text);
        assert_eq!(samples.len(), 5);
        assert_eq!(samples[1].label("service"), Some("x \"y\", z"));
        assert_eq!(samples[1].value, 7.0);
        assert_eq!(
            metric_sum(text, "otelcol_exporter_sent_spans", &[("exporter", "otlp_grpc/a")]),
            10.0
        );
        assert_eq!(metric_sum(text, "otelcol_exporter_sent_spans", &[]), 17.0);
        assert_eq!(metric_sum(text, "plain_metric", &[]), 3.5);
        assert_eq!(
            metric_sum(text, "otelcol_exporter_sent_spans", &[("exporter", "nope")]),
            0.0
        );
        assert!(samples[4].value.is_infinite());
    }
}
