//! The live figures of the pipeline page, read from the self-metrics.
//!
//! The only way to read values back from the `metrics` recorder is its Prometheus
//! text rendering, so this parses that text. Hand-written rather than a
//! Prometheus-parsing crate: the text comes from sloop's own recorder, so only
//! sample lines (`name{label="value",...} number`) and the three escapes of label
//! values (`\\`, `\"`, `\n`) occur; comments and anything else are skipped.

use std::collections::BTreeMap;

use crate::component::Signal;

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name.
    pub name: String,
    /// Its labels, by name.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// The samples of a Prometheus text rendering; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            rest = rest.trim_start_matches([',', ' ']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest.split_once("=\"")?;
            let (value, after) = unescape_until_quote(after)?;
            labels.insert(key.trim().to_string(), value);
            rest = after;
        }
    }
    // A timestamp may follow the value.
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// A label value up to its closing quote, unescaped, and what follows the quote.
fn unescape_until_quote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    None
}

/// The figures of the pipeline page, looked up by component.
pub struct Figures {
    samples: Vec<Sample>,
}

impl Figures {
    /// Figures from a Prometheus text rendering of the self-metrics.
    pub fn from_text(text: &str) -> Self {
        Self { samples: parse(text) }
    }

    /// The sum of every sample of `name` whose label `key` is `id` (summing over
    /// other labels, such as a receiver's `transport`). `None` when there is none:
    /// the component has not recorded it.
    pub fn sum(&self, name: &str, key: &str, id: &str) -> Option<f64> {
        // Counters may be rendered with the OpenMetrics `_total` suffix.
        let total = format!("{name}_total");
        self.samples
            .iter()
            .filter(|s| (s.name == name || s.name == total) && s.labels.get(key).is_some_and(|v| v == id))
            .map(|s| s.value)
            .reduce(|a, b| a + b)
    }

    /// The figures of one component of a pipeline of `signal`, as (label, value)
    /// pairs in display order.
    pub fn of(&self, kind: &str, id: &str, signal: Signal) -> Vec<(&'static str, Option<f64>)> {
        let item = signal.item_name();
        let counter = |what: &str| format!("otelcol_{kind}_{what}_{item}");
        match kind {
            "receiver" => vec![
                ("accepted", self.sum(&counter("accepted"), "receiver", id)),
                ("refused", self.sum(&counter("refused"), "receiver", id)),
            ],
            "processor" => vec![
                ("refused", self.sum(&counter("refused"), "processor", id)),
                ("dropped", self.sum(&counter("dropped"), "processor", id)),
            ],
            "exporter" => vec![
                ("sent", self.sum(&counter("sent"), "exporter", id)),
                ("send failed", self.sum(&counter("send_failed"), "exporter", id)),
                ("enqueue failed", self.sum(&counter("enqueue_failed"), "exporter", id)),
                ("queue size", self.sum("otelcol_exporter_queue_size", "exporter", id)),
                (
                    "queue capacity",
                    self.sum("otelcol_exporter_queue_capacity", "exporter", id),
                ),
            ],
            _ => Vec::new(),
        }
    }
}
