//! The scrape page: Prometheus's text format 0.0.4, or OpenMetrics 1.0 (with
//! exemplars) for scrapers that ask for it.
//!
//! Written by hand rather than with `prometheus-client` or the `prometheus` crate:
//! both encode from their own registry of typed metrics declared up front, while
//! these series arrive at run time with any name, labels and type, and expire.

use std::fmt::Write;

use super::translate::{format_float, Exemplar, Kind, Labels, Series, Value};

/// Which format a page is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a page in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// OpenMetrics when enabled and the scraper's `Accept` header lists it, else text.
    pub fn negotiate(accept: Option<&str>, open_metrics_enabled: bool) -> Format {
        match accept {
            Some(accept) if open_metrics_enabled && accept.contains("application/openmetrics-text") => {
                Format::OpenMetrics
            }
            _ => Format::Text,
        }
    }
}

/// Writes `series` (sorted by name, as the accumulator's snapshot is) as a page.
/// When two types share a name, the first type's series are written and the others
/// left out: a page may not declare a name twice.
pub fn render(series: &[Series], format: Format, send_timestamps: bool) -> String {
    let mut out = String::new();
    let mut current: Option<(&str, Kind)> = None;
    for s in series {
        match current {
            Some((name, kind)) if name == s.name => {
                if kind != s.kind {
                    continue;
                }
            }
            _ => {
                current = Some((&s.name, s.kind));
                let family = family_name(&s.name, s.kind, format);
                if !s.help.is_empty() {
                    let _ = writeln!(out, "# HELP {family} {}", escape_help(&s.help, format));
                }
                let _ = writeln!(out, "# TYPE {family} {}", s.kind.as_str());
            }
        }
        let time = send_timestamps.then_some(s.time_ms);
        let sample = Sample {
            format,
            labels: &s.labels,
            time,
        };
        match &s.value {
            Value::Number(value) => {
                let name = match (s.kind, format) {
                    (Kind::Counter, Format::OpenMetrics) => format!("{}_total", family_name(&s.name, s.kind, format)),
                    _ => s.name.clone(),
                };
                let exemplar = (s.kind == Kind::Counter).then(|| s.exemplars.last()).flatten();
                sample.write(&mut out, &name, None, *value, exemplar);
            }
            Value::Histogram(h) => {
                let bucket = format!("{}_bucket", s.name);
                let mut lower = f64::NEG_INFINITY;
                for (le, count) in h.cumulative() {
                    let exemplar = s.exemplars.iter().rev().find(|e| e.value > lower && e.value <= le);
                    sample.write(
                        &mut out,
                        &bucket,
                        Some(("le", &format_float(le))),
                        count as f64,
                        exemplar,
                    );
                    lower = le;
                }
                sample.write(&mut out, &format!("{}_sum", s.name), None, h.sum, None);
                sample.write(&mut out, &format!("{}_count", s.name), None, h.count as f64, None);
            }
            Value::Summary(summary) => {
                for (quantile, value) in &summary.quantiles {
                    sample.write(
                        &mut out,
                        &s.name,
                        Some(("quantile", &format_float(*quantile))),
                        *value,
                        None,
                    );
                }
                sample.write(&mut out, &format!("{}_sum", s.name), None, summary.sum, None);
                sample.write(&mut out, &format!("{}_count", s.name), None, summary.count as f64, None);
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// The name in `# TYPE`: OpenMetrics names a counter without its `_total`.
fn family_name(name: &str, kind: Kind, format: Format) -> &str {
    match (kind, format) {
        (Kind::Counter, Format::OpenMetrics) => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    }
}

/// What every sample line of one series shares.
struct Sample<'a> {
    format: Format,
    labels: &'a Labels,
    /// Unix milliseconds, with send_timestamps.
    time: Option<i64>,
}

impl Sample<'_> {
    fn write(
        &self,
        out: &mut String,
        name: &str,
        extra: Option<(&str, &str)>,
        value: f64,
        exemplar: Option<&Exemplar>,
    ) {
        out.push_str(name);
        let labels = self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        write_labels(out, labels.chain(extra));
        out.push(' ');
        out.push_str(&format_float(value));
        if let Some(ms) = self.time {
            let _ = match self.format {
                Format::Text => write!(out, " {ms}"),
                Format::OpenMetrics => write!(out, " {}", seconds(ms)),
            };
        }
        if let (Format::OpenMetrics, Some(e)) = (self.format, exemplar) {
            out.push_str(" # ");
            let ids = [("trace_id", e.trace_id.as_str()), ("span_id", e.span_id.as_str())];
            let mut ids = ids.into_iter().filter(|(_, v)| !v.is_empty()).peekable();
            if ids.peek().is_none() {
                out.push_str("{}");
            } else {
                write_labels(out, ids);
            }
            let _ = write!(out, " {}", format_float(e.value));
            if e.time_ms > 0 {
                let _ = write!(out, " {}", seconds(e.time_ms));
            }
        }
        out.push('\n');
    }
}

fn write_labels<'a>(out: &mut String, labels: impl Iterator<Item = (&'a str, &'a str)>) {
    let mut first = true;
    for (name, value) in labels {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

fn escape_help(help: &str, format: Format) -> String {
    let mut escaped = help.replace('\\', "\\\\").replace('\n', "\\n");
    if format == Format::OpenMetrics {
        escaped = escaped.replace('"', "\\\"");
    }
    escaped
}

/// Milliseconds as seconds, as OpenMetrics writes timestamps.
fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}
