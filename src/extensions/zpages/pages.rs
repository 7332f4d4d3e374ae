//! The pages, rendered on the server as plain HTML. Every value that comes from the
//! config or the self-metrics goes through [`escape`].

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use super::figures::Figures;
use crate::component::{PipelineLayout, ServiceLayout};

/// Escapes `text` for HTML element content and quoted attribute values.
///
/// Hand-written: five replacements, where a template engine would add a
/// proc-macro dependency for five small pages.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The links at the top of every page.
const NAV: &[(&str, &str)] = &[
    ("/debug/servicez", "Service"),
    ("/debug/pipelinez", "Pipelines"),
    ("/debug/extensionz", "Extensions"),
    ("/debug/featurez", "Feature gates"),
    ("/debug/tracez", "Traces"),
    ("/debug/rpcz", "RPCs"),
];

/// A whole page around `body` (already HTML).
fn page(title: &str, body: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}</style></head>\n<body>\n<p>",
        title = escape(title)
    );
    for (i, (href, label)) in NAV.iter().enumerate() {
        if i > 0 {
            out.push_str(" | ");
        }
        let _ = write!(out, "<a href=\"{href}\">{label}</a>");
    }
    let _ = write!(out, "</p>\n<h1>{}</h1>\n{body}</body></html>\n", escape(title));
    out
}

/// A table with header `columns` and `rows` of cells (already HTML).
fn table(columns: &[&str], rows: impl IntoIterator<Item = String>) -> String {
    let mut out = String::from("<table>\n<tr>");
    for column in columns {
        let _ = write!(out, "<th>{}</th>", escape(column));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out.push_str("</table>\n");
    out
}

/// Build and runtime facts for `/debug/servicez`.
pub struct ServiceFacts<'a> {
    /// The program as started (`sloop`).
    pub command: &'a str,
    /// When the service started.
    pub started: SystemTime,
    /// Now.
    pub now: SystemTime,
}

/// `/debug/servicez`: build info, start time, uptime, and the configured components.
pub fn servicez(facts: &ServiceFacts<'_>, layout: &ServiceLayout) -> String {
    let uptime = facts.now.duration_since(facts.started).unwrap_or_default();
    let uptime = Duration::from_secs(uptime.as_secs());
    let mut body = String::from("<h2>Build info</h2>\n");
    body += &table(
        &["Property", "Value"],
        [
            ("Command", facts.command.to_string()),
            ("Description", env!("CARGO_PKG_DESCRIPTION").to_string()),
            ("Version", env!("CARGO_PKG_VERSION").to_string()),
        ]
        .iter()
        .map(|(k, v)| format!("<tr><td>{k}</td><td>{}</td></tr>", escape(v))),
    );
    body += "<h2>Runtime info</h2>\n";
    body += &table(
        &["Property", "Value"],
        [
            (
                "Start time",
                humantime::format_rfc3339_seconds(facts.started).to_string(),
            ),
            ("Uptime", humantime::format_duration(uptime).to_string()),
        ]
        .iter()
        .map(|(k, v)| format!("<tr><td>{k}</td><td>{}</td></tr>", escape(v))),
    );
    body += "<h2>Components</h2>\n";
    body += &table(
        &["Kind", "ID"],
        layout.components.iter().map(|(kind, id)| {
            let id = escape(&id.to_string());
            format!("<tr data-kind=\"{kind}\" data-id=\"{id}\"><td>{kind}</td><td>{id}</td></tr>")
        }),
    );
    page("Service", &body)
}

/// `/debug/pipelinez`: a summary of every pipeline as the Collector's page has it,
/// then each pipeline's components with their live figures (`figures` is `None`
/// when the process records no self-metrics).
pub fn pipelinez(layout: &ServiceLayout, figures: Option<&Figures>) -> String {
    let ids = |ids: &[crate::component::ComponentId]| {
        escape(&ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
    };
    let mut body = table(
        &["Full name", "Input type", "Receivers", "Processors", "Exporters"],
        layout.pipelines.iter().map(|p| {
            format!(
                "<tr><td><a href=\"#{anchor}\">{name}</a></td><td>{signal}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                ids(&p.receivers),
                ids(&p.processors),
                ids(&p.exporters),
                anchor = escape(&p.name),
                name = escape(&p.name),
                signal = p.signal.as_str(),
            )
        }),
    );
    if figures.is_none() {
        body += "<p>This process records no self-metrics, so there are no figures.</p>\n";
    }
    body += "<p>Figures are counts since start, per component: a component in several \
             pipelines of one signal shows the same figures in each.</p>\n";
    for pipeline in &layout.pipelines {
        body += &pipeline_section(pipeline, figures);
    }
    page("Pipelines", &body)
}

/// One pipeline's components, upstream first, with their figures.
fn pipeline_section(pipeline: &PipelineLayout, figures: Option<&Figures>) -> String {
    let name = escape(&pipeline.name);
    let mut out = format!("<section id=\"{name}\" data-pipeline=\"{name}\">\n<h2>{name}</h2>\n");
    let stages = (pipeline.receivers.iter().map(|id| ("receiver", id)))
        .chain(pipeline.processors.iter().map(|id| ("processor", id)))
        .chain(pipeline.exporters.iter().map(|id| ("exporter", id)));
    out += &table(
        &["Kind", "ID", "Figures"],
        stages.map(|(kind, id)| {
            let id = id.to_string();
            let cells = figures
                .map(|f| f.of(kind, &id, pipeline.signal))
                .unwrap_or_default()
                .into_iter()
                .map(|(label, value)| {
                    let value = value.map_or_else(|| "-".to_string(), |v| v.to_string());
                    format!("{label}: <span data-figure=\"{label}\">{value}</span>")
                })
                .collect::<Vec<_>>()
                .join(", ");
            let id = escape(&id);
            format!("<tr data-kind=\"{kind}\" data-id=\"{id}\"><td>{kind}</td><td>{id}</td><td>{cells}</td></tr>")
        }),
    );
    out += "</section>\n";
    out
}

/// `/debug/extensionz`: the extensions the service runs.
pub fn extensionz(layout: &ServiceLayout) -> String {
    let body = table(
        &["Name"],
        layout.extensions.iter().map(|id| {
            let id = escape(&id.to_string());
            format!("<tr data-id=\"{id}\"><td>{id}</td></tr>")
        }),
    );
    page("Extensions", &body)
}

/// `/debug/featurez`: sloop has no feature gates, so the Collector's table is empty.
pub fn featurez() -> String {
    let mut body = table(
        &[
            "ID",
            "Enabled",
            "Stage",
            "Description",
            "From version",
            "To version",
            "Reference URL",
        ],
        [],
    );
    body += "<p>sloop has no feature gates.</p>\n";
    page("Feature gates", &body)
}

/// `/debug/tracez` and `/debug/rpcz`: sloop does not trace itself.
pub fn no_spans(title: &str) -> String {
    page(
        title,
        "<p>sloop does not record spans of its own work, so there is nothing to show here. \
         Its self-metrics are on <a href=\"/debug/pipelinez\">/debug/pipelinez</a> and at \
         <code>service.telemetry.metrics</code>.</p>\n",
    )
}
