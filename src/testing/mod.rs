//! Helpers shared by unit tests: small payloads and a recording consumer.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::component::{BoxFuture, ConsumeError, Consumer};
use crate::pdata::Telemetry;

/// Traces with one resource per inner slice, each holding spans with those names.
pub fn traces(resources: &[&[&str]]) -> Telemetry {
    let resource_spans = resources
        .iter()
        .enumerate()
        .map(|(r, names)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(format!("service-{r}"))),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test".into(),
                    ..Default::default()
                }),
                spans: names.iter().map(|n| span(n)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    Telemetry::Traces(ExportTraceServiceRequest { resource_spans })
}

/// A server span with valid IDs.
pub fn span(name: &str) -> Span {
    Span {
        trace_id: (1..=16).collect(),
        span_id: (1..=8).collect(),
        name: name.into(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_250_000_000,
        ..Default::default()
    }
}

/// Span names in order.
pub fn span_names(data: &Telemetry) -> Vec<String> {
    match data {
        Telemetry::Traces(r) => r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| s.name.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// A consumer that records what it gets, or refuses while `refuse` is set.
#[derive(Default)]
pub struct Recorder {
    /// Every payload received, in order.
    pub received: Mutex<Vec<Telemetry>>,
    /// When set, consume fails with this error.
    pub refuse: Mutex<Option<ConsumeError>>,
    /// For each payload in `received`, the encoding it came with, if any.
    pub encodings: Mutex<Vec<Option<crate::pdata::Encoded>>>,
}

impl Recorder {
    /// A new shared recorder.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Item counts of each received payload.
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(Telemetry::item_count)
            .collect()
    }
}

impl Consumer for Recorder {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            if let Some(error) = self.refuse.lock().unwrap().clone() {
                return Err(error);
            }
            self.received.lock().unwrap().push(data);
            self.encodings.lock().unwrap().push(None);
            Ok(())
        })
    }

    fn consume_encoded(
        &self,
        data: Telemetry,
        encoded: crate::pdata::Encoded,
    ) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            if let Some(error) = self.refuse.lock().unwrap().clone() {
                return Err(error);
            }
            self.received.lock().unwrap().push(data);
            self.encodings.lock().unwrap().push(Some(encoded));
            Ok(())
        })
    }

    fn consume_encoded_or_return(
        &self,
        data: Telemetry,
        encoded: crate::pdata::Encoded,
    ) -> BoxFuture<'_, Result<(), crate::component::Refused>> {
        Box::pin(async move {
            let copy = data.clone();
            self.consume_encoded(data, encoded)
                .await
                .map_err(|error| crate::component::Refused::new(error, copy))
        })
    }
}

/// Builds `config`'s processor as a pipeline of `signal` would, with the id `id`,
/// default service handles and a [`Recorder`] for the pipeline's exporters.
pub fn build_processor(
    config: &dyn crate::component::ProcessorConfig,
    id: &str,
    signal: crate::component::Signal,
    next: Arc<dyn Consumer>,
) -> Arc<dyn crate::component::Processor> {
    let id = crate::component::ComponentId::parse(id).expect("a valid component id");
    let service = crate::component::ServiceHandles::default();
    let ctx = crate::component::ProcessorContext {
        id: &id,
        pipeline: signal.as_str(),
        signal,
        exporters: Recorder::new(),
        pipelines: &Default::default(),
        service: &service,
        durable: false,
    };
    config.build(&ctx, next).expect("the processor builds")
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; whether it held.
pub async fn poll(timeout: std::time::Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
