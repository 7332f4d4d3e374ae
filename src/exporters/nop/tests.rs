use std::collections::BTreeMap;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusBuilder;

use super::NopExporterConfig;
use crate::component::{Authenticators, ComponentId, ExporterConfig, ExporterContext, ServiceHandles};
use crate::pdata::ExportBatch;
use crate::testing::traces;

#[tokio::test]
async fn accepts_every_batch_and_counts_its_items_as_sent() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let id = ComponentId::parse("nop/sink").unwrap();
    let (storage, authenticators, service) = (BTreeMap::new(), Authenticators::default(), ServiceHandles::default());
    let ctx = ExporterContext {
        id: &id,
        storage: &storage,
        authenticators: &authenticators,
        service: &service,
    };
    let exporter = metrics::with_local_recorder(&recorder, || NopExporterConfig {}.build(&ctx)).unwrap();
    exporter.start().unwrap();
    for _ in 0..2 {
        let batch = ExportBatch::new(traces(&[&["GET /", "SELECT"], &["PUT /"]]));
        exporter.enqueue(Arc::new(batch)).await.unwrap();
    }
    let deadline = tokio::time::Instant::now();
    assert_eq!(exporter.shutdown(deadline).await, 0, "nothing is ever left undelivered");
    assert_eq!(exporter.shutdown(deadline).await, 0, "shutdown twice");
    let text = handle.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("otelcol_exporter_sent_spans{exporter=\"nop/sink\"} 6")),
        "{text}"
    );
}
