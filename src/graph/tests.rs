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
    a.start();
    b.start();
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
    let topology = Topology::build(&config, &ServiceHandles::default()).unwrap();
    topology.shutdown(Duration::from_secs(1)).await;
    // Start, then shutdown twice.
    let topology = Topology::build(&config, &ServiceHandles::default()).unwrap();
    topology.start().await.unwrap();
    assert!(topology.is_ready());
    let first = topology.shutdown(Duration::from_secs(1)).await;
    assert!(!topology.is_ready());
    let second = topology.shutdown(Duration::from_secs(1)).await;
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
