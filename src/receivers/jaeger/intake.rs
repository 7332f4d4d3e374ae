//! What every protocol does with a decoded batch: translate it, refuse it while
//! shutting down, hand it to the traces pipeline, and count. Admission and the
//! wire statuses of a refusal are the otlp receiver's.

use std::sync::Arc;

use metrics::Counter;

use super::model::Batch;
use super::translate;
use crate::component::{ComponentId, ConsumeError, Consumer};
use crate::pdata::Telemetry;
use crate::receivers::otlp::{Admission, Refused};

/// One protocol's entry to the pipeline, with its counters.
pub struct Intake {
    consumer: Option<Arc<dyn Consumer>>,
    admission: Arc<Admission>,
    accepted: Counter,
    refused: Counter,
}

impl Intake {
    /// Counters labelled with the receiver and `transport` (the Collector's names:
    /// `grpc`, `collector_http`, `udp_thrift_compact`, `udp_thrift_binary`).
    pub fn new(
        id: &ComponentId,
        transport: &'static str,
        consumer: Option<Arc<dyn Consumer>>,
        admission: Arc<Admission>,
    ) -> Arc<Self> {
        let counter =
            |name: &'static str| metrics::counter!(name, "receiver" => id.to_string(), "transport" => transport);
        Arc::new(Self {
            consumer,
            admission,
            accepted: counter("otelcol_receiver_accepted_spans"),
            refused: counter("otelcol_receiver_refused_spans"),
        })
    }

    /// Translates `batch` and passes it on.
    pub async fn accept(&self, batch: Batch) -> Result<(), Refused> {
        let Some(consumer) = &self.consumer else {
            return Err(Refused::Pipeline(ConsumeError::permanent(
                "this receiver is in no traces pipeline",
            )));
        };
        let data = Telemetry::Traces(translate::batch(batch));
        let spans = data.item_count() as u64;
        let _inside = self
            .admission
            .enter()
            .await
            .inspect_err(|_| self.refused.increment(spans))?;
        if spans == 0 {
            return Ok(());
        }
        match consumer.consume(data).await {
            Ok(()) => {
                self.accepted.increment(spans);
                Ok(())
            }
            Err(error) => {
                self.refused.increment(spans);
                Err(Refused::Pipeline(error))
            }
        }
    }
}
