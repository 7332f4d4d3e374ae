use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use metrics_exporter_prometheus::PrometheusBuilder;
use tower::ServiceExt;

use super::figures::{parse, Figures};
use super::pages::{escape, pipelinez};
use super::router;
use crate::component::{ComponentId, PipelineLayout, ServiceLayout, ServiceView, Signal};
use crate::confmap::{parse_block, RawValue};

fn id(text: &str) -> ComponentId {
    ComponentId::parse(text).unwrap()
}

/// One traces pipeline whose names try to break out of the HTML.
fn hostile_layout() -> ServiceLayout {
    ServiceLayout {
        pipelines: vec![PipelineLayout {
            name: "traces/<script>alert(1)</script>".into(),
            signal: Signal::Traces,
            receivers: vec![id("otlp/\"><img/src=x>")],
            processors: vec![id("batch")],
            exporters: vec![id("debug/a&b")],
        }],
        extensions: vec![id("zpages/'quoted'")],
        components: vec![("receiver", id("otlp/\"><img/src=x>")), ("exporter", id("debug/a&b"))],
    }
}

async fn get(app: axum::Router, path: &str) -> (StatusCode, String) {
    let response = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[test]
fn escape_replaces_every_character_that_means_something_in_html() {
    assert_eq!(
        escape(r#"<a href="x" title='y'>&amp;</a>"#),
        "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
    );
    assert_eq!(escape("traces/plain-name_1"), "traces/plain-name_1");
}

#[tokio::test]
async fn names_from_the_config_are_escaped_on_every_page() {
    let view = Arc::new(ServiceView::default());
    view.set_layout(hostile_layout());
    for path in ["/debug/servicez", "/debug/pipelinez", "/debug/extensionz"] {
        let (status, body) = get(router(view.clone()), path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        for raw in ["<script>", "<img", "a&b", "'quoted'"] {
            assert!(!body.contains(raw), "{path} contains {raw:?} unescaped:\n{body}");
        }
    }
    let (_, body) = get(router(view.clone()), "/debug/pipelinez").await;
    assert!(body.contains("traces/&lt;script&gt;alert(1)&lt;/script&gt;"), "{body}");
    assert!(body.contains("debug/a&amp;b"), "{body}");
    let (_, body) = get(router(view), "/debug/extensionz").await;
    assert!(body.contains("zpages/&#39;quoted&#39;"), "{body}");
}

#[tokio::test]
async fn every_collector_page_answers_and_others_are_not_found() {
    let app = router(Arc::new(ServiceView::default()));
    for path in [
        "/debug/servicez",
        "/debug/pipelinez",
        "/debug/extensionz",
        "/debug/featurez",
        "/debug/tracez",
        "/debug/rpcz",
    ] {
        let (status, body) = get(app.clone(), path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.starts_with("<!DOCTYPE html>"), "{path}: {body}");
    }
    let (_, body) = get(app.clone(), "/debug/tracez").await;
    assert!(body.contains("does not record spans"), "{body}");
    let (status, _) = get(app, "/debug/expvarz").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn the_parser_reads_labels_with_escapes_and_skips_what_is_not_a_sample() {
    let text = "# HELP x y\n# TYPE otelcol_receiver_accepted_spans counter\n\
                otelcol_receiver_accepted_spans{receiver=\"otlp/a\\\"b\\\\c\\n\",transport=\"grpc\"} 12\n\
                plain 1.5 1700000000\n\
                broken{receiver=\"unterminated} 3\n\
                novalue{a=\"b\"}\n";
    let samples = parse(text);
    assert_eq!(samples.len(), 2, "{samples:?}");
    assert_eq!(samples[0].labels["receiver"], "otlp/a\"b\\c\n");
    assert_eq!(samples[0].labels["transport"], "grpc");
    assert_eq!(samples[0].value, 12.0);
    assert_eq!((samples[1].name.as_str(), samples[1].value), ("plain", 1.5));
}

#[test]
fn figures_come_from_the_recorder_summed_over_transports() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("otelcol_receiver_accepted_spans", "receiver" => "otlp", "transport" => "grpc").increment(3);
        metrics::counter!("otelcol_receiver_accepted_spans", "receiver" => "otlp", "transport" => "http").increment(4);
        metrics::counter!("otelcol_receiver_accepted_spans", "receiver" => "otlp/other", "transport" => "grpc")
            .increment(100);
        metrics::counter!("otelcol_exporter_sent_spans", "exporter" => "otlp_grpc").increment(7);
        metrics::gauge!("otelcol_exporter_queue_size", "exporter" => "otlp_grpc").set(2.0);
    });
    let figures = Figures::from_text(&handle.render());
    let receiver = figures.of("receiver", "otlp", Signal::Traces);
    assert_eq!(receiver, vec![("accepted", Some(7.0)), ("refused", None)]);
    let exporter = figures.of("exporter", "otlp_grpc", Signal::Traces);
    assert!(exporter.contains(&("sent", Some(7.0))), "{exporter:?}");
    assert!(exporter.contains(&("queue size", Some(2.0))), "{exporter:?}");
    // Another signal's items are other metrics.
    assert_eq!(figures.of("receiver", "otlp", Signal::Logs)[0], ("accepted", None));

    let layout = ServiceLayout {
        pipelines: vec![PipelineLayout {
            name: "traces".into(),
            signal: Signal::Traces,
            receivers: vec![id("otlp")],
            processors: vec![],
            exporters: vec![id("otlp_grpc")],
        }],
        ..ServiceLayout::default()
    };
    let page = pipelinez(&layout, Some(&figures));
    assert!(
        page.contains("accepted: <span data-figure=\"accepted\">7</span>"),
        "{page}"
    );
    assert!(page.contains("sent: <span data-figure=\"sent\">7</span>"), "{page}");
}

#[test]
fn expvar_is_refused_and_unknown_keys_too() {
    let parse = |yaml: &str| {
        let dict: figment::value::Dict = figment::Figment::from(
            <serde_saphyr::figment::Yaml as figment::providers::Format>::string(yaml),
        )
        .extract()
        .unwrap();
        parse_block::<super::ZPagesConfig>(&RawValue::from(dict))
    };
    let errors = parse("expvar:\n  enabled: true\n").unwrap_err();
    assert_eq!(errors[0].path, "expvar.enabled");
    assert!(errors[0].message.contains("Go runtime"), "{}", errors[0].message);
    let errors = parse("tls: {}\n").unwrap_err();
    assert!(errors[0].to_string().contains("tls"), "{}", errors[0]);
    let config = parse("expvar:\n  enabled: false\n").unwrap();
    assert_eq!(config.endpoint, "localhost:55679");
}
