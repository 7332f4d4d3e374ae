use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::component::Retry;
use crate::exporters::helper::tests::{full_queue, id, settings, Scripted};
use crate::exporters::helper::ExporterQueue;
use crate::testing::traces;

#[tokio::test(start_paused = true)]
async fn fan_out_delivers_to_the_healthy_exporter_when_one_is_full() {
    let dead = Arc::new(Scripted {
        hang: true,
        ..Default::default()
    });
    let healthy = Scripted::new(vec![]);
    let a = Arc::new(ExporterQueue::new(id("otlp/dead"), dead, settings(1, true)));
    let b = Arc::new(ExporterQueue::new(
        id("otlp/healthy"),
        healthy.clone(),
        settings(100, true),
    ));
    a.start().unwrap();
    b.start().unwrap();
    let fan_out = ExporterFanOut::new(vec![a.clone(), b.clone()]);
    for _ in 0..10 {
        fan_out.consume(traces(&[&["x", "y"]])).await.unwrap();
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(*healthy.delivered.lock().unwrap(), 20);
    // When no exporter can take a batch, the refusal goes back to the client.
    let only_dead = ExporterFanOut::new(vec![a.clone()]);
    assert!(only_dead.consume(traces(&[&["z"]])).await.is_err());
    a.shutdown(tokio::time::Instant::now()).await;
    b.shutdown(tokio::time::Instant::now()).await;
}

#[tokio::test]
async fn every_component_starts_and_stops_twice() {
    let dir = std::env::temp_dir().join(format!("sloop-topology-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = format!(
        "
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
      http:
        endpoint: 127.0.0.1:0
processors:
  batch:
exporters:
  debug:
  file:
    path: {}
  otlp_grpc:
    endpoint: 127.0.0.1:9
    tls:
      insecure: true
  otlp_http:
    endpoint: http://127.0.0.1:9
  loadbalancing/static:
    protocol:
      otlp:
        tls:
          insecure: true
    resolver:
      static:
        hostnames: ['127.0.0.1:9']
  loadbalancing/dns:
    resolver:
      dns:
        hostname: gw.test.
        nameservers: ['127.0.0.1:9']
        timeout: 100ms
extensions:
  health_check:
    endpoint: 127.0.0.1:0
service:
  extensions: [health_check]
  shutdown_timeout: 1s
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug, file, otlp_grpc, otlp_http, loadbalancing/static, loadbalancing/dns]
",
        dir.join("out.jsonl").display()
    );
    let config = crate::config::Config::from_yaml(&yaml).unwrap();
    // Shutdown without start.
    let graph = Graph::build(&config, &ServiceHandles::default(), None).unwrap();
    graph.shutdown(Duration::from_secs(1)).await;
    // Start, then shutdown twice.
    let graph = Graph::build(&config, &ServiceHandles::default(), None).unwrap();
    graph.start().await.unwrap();
    assert!(graph.is_ready());
    let first = graph.shutdown(Duration::from_secs(1)).await;
    assert!(!graph.is_ready());
    let second = graph.shutdown(Duration::from_secs(1)).await;
    assert_eq!(first, ShutdownReport::default());
    assert_eq!(second, ShutdownReport::default());
}

#[tokio::test(start_paused = true)]
async fn a_batch_no_exporter_takes_is_handed_back_untouched() {
    let queue = Arc::new(full_queue("otlp/dead").await);
    let fan_out = ExporterFanOut::new(vec![queue.clone()]);
    let refused = traces(&[&["c", "d"]]);
    let crate::component::Refused { error, data } = fan_out.consume_or_return(refused.clone()).await.unwrap_err();
    assert!(matches!(error.retry, Retry::After(Some(_))), "{error:?}");
    assert_eq!(data, Some(refused));
    queue.shutdown(tokio::time::Instant::now()).await;
}

const SLO_INTO_METRICS: &str = "
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
processors:
  sli:
    slis: [{name: all, good: 'true'}]
  slo:
    metrics_pipeline: metrics
    objectives: [{name: o, sli: all, target: 0.99}]
  batch:
exporters:
  debug:
  debug/metrics:
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug/metrics]
    traces:
      receivers: [otlp]
      processors: [sli, slo]
      exporters: [debug]
";

#[test]
fn a_pipeline_stops_before_the_pipeline_it_sends_into_whatever_their_names() {
    let config = crate::config::Config::from_yaml(SLO_INTO_METRICS).unwrap();
    let graph = Graph::build(&config, &ServiceHandles::default(), None).unwrap();
    let order: Vec<String> = graph.stages.iter().map(|s| s.node.to_string()).collect();
    assert_eq!(order, ["pipeline traces", "pipeline metrics"]);
}

#[tokio::test]
async fn a_reload_keeps_what_did_not_change_and_drains_what_did() {
    let service = ServiceHandles::default();
    let config = crate::config::Config::from_yaml(SLO_INTO_METRICS).unwrap();
    service.state.begin();
    let graph = Graph::build(&config, &service, None).unwrap();
    service.state.sweep();
    graph.start().await.unwrap();
    let receiver = graph.receivers[0].running.instance.clone();
    let debug = graph.exporters[&id("debug")].clone();
    let metrics = graph.exporters[&id("debug/metrics")].clone();

    let changed = SLO_INTO_METRICS.replace("  debug/metrics:\n", "  debug/metrics:\n    verbosity: detailed\n");
    let config = crate::config::Config::from_yaml(&changed).unwrap();
    let (graph, report) = match graph.reload(&config, Duration::from_secs(1)).await {
        Ok(swapped) => swapped,
        Err((_, error)) => panic!("{error}"),
    };
    assert_eq!(report, ShutdownReport::default());
    assert!(graph.is_ready(), "readiness does not drop during a reload");
    assert_eq!(
        address(&graph.receivers[0].running.instance),
        address(&receiver),
        "same sockets"
    );
    assert_eq!(address(&graph.exporters[&id("debug")]), address(&debug), "same queue");
    assert_ne!(
        address(&graph.exporters[&id("debug/metrics")]),
        address(&metrics),
        "a new queue"
    );
    // The kept queue still takes data; the dropped one was drained and refuses.
    let batch = Arc::new(crate::pdata::ExportBatch::new(traces(&[&["x"]])));
    graph.exporters[&id("debug")].enqueue(batch.clone()).await.unwrap();
    assert!(metrics.enqueue(batch).await.is_err());
    graph.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_reload_that_fails_to_build_keeps_the_running_graph() {
    let dir = std::env::temp_dir().join(format!("sloop-graph-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let service = ServiceHandles::default();
    let config = crate::config::Config::from_yaml(SLO_INTO_METRICS).unwrap();
    let graph = Graph::build(&config, &service, None).unwrap();
    graph.start().await.unwrap();
    let debug = graph.exporters[&id("debug")].clone();
    // A file exporter whose path is a directory parses but cannot be built.
    let broken = SLO_INTO_METRICS
        .replace(
            "  debug:\n",
            &format!("  debug:\n  file:\n    path: {}\n", dir.display()),
        )
        .replace("exporters: [debug]", "exporters: [debug, file]");
    let config = crate::config::Config::from_yaml(&broken).unwrap();
    let graph = match graph.reload(&config, Duration::from_secs(1)).await {
        Ok(_) => panic!("the file exporter cannot open its file"),
        Err((graph, error)) => {
            assert!(error.to_string().starts_with("exporters.file"), "{error}");
            graph
        }
    };
    assert_eq!(address(&graph.exporters[&id("debug")]), address(&debug));
    let batch = Arc::new(crate::pdata::ExportBatch::new(traces(&[&["x"]])));
    debug.enqueue(batch).await.unwrap();
    graph.shutdown(Duration::from_secs(1)).await;
}
