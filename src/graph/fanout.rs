//! The two fan-outs of the graph: a pipeline's end into its exporters' queues, and a
//! receiver's output into every pipeline that lists it.

use std::sync::Arc;

use crate::component::{BoxFuture, ConsumeError, Consumer, QueuedExporter, Refused};
use crate::pdata::{Encoded, ExportBatch, Telemetry};

/// The end of a pipeline: shares one batch (one `Arc`, one protobuf encoding) with
/// every exporter's queue.
///
/// An exporter whose queue is full drops the batch (counted in its
/// `otelcol_exporter_enqueue_failed_*`) while the others take it, so a dead backend
/// never stalls the rest. Only when *no* exporter can take the batch is the refusal
/// passed back, so the client retries instead of the data being lost everywhere —
/// or when an exporter that acknowledges durably (a persistent queue,
/// `wait_for_result`) refused it: its OK is a promise the client relies on, so the
/// client retries, and the exporters that took it see it again (at-least-once).
pub struct ExporterFanOut {
    exporters: Vec<Arc<dyn QueuedExporter>>,
}

impl ExporterFanOut {
    /// Fans out to `exporters`.
    pub fn new(exporters: Vec<Arc<dyn QueuedExporter>>) -> Self {
        Self { exporters }
    }
}

impl ExporterFanOut {
    /// Offers `batch` to every exporter; the refusal if none took it.
    async fn offer(&self, batch: &Arc<ExportBatch>) -> Result<(), ConsumeError> {
        let mut refusal = None;
        let mut accepted = 0;
        let mut durable_refused = false;
        for exporter in &self.exporters {
            match exporter.enqueue(batch.clone()).await {
                Ok(()) => accepted += 1,
                Err(error) => {
                    durable_refused |= exporter.acknowledges_durably();
                    refusal = Some(error);
                }
            }
        }
        match refusal {
            Some(error) if accepted == 0 || durable_refused => Err(error),
            _ => Ok(()),
        }
    }
}

impl Consumer for ExporterFanOut {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            if data.is_empty() {
                return Ok(());
            }
            self.offer(&Arc::new(ExportBatch::new(data))).await
        })
    }

    /// A batch no exporter took is handed back without a copy: every queue refused
    /// it, so nothing else holds the `Arc`.
    fn consume_or_return(&self, data: Telemetry) -> BoxFuture<'_, Result<(), Refused>> {
        Box::pin(async move {
            if data.is_empty() {
                return Ok(());
            }
            self.offer_or_return(ExportBatch::new(data)).await
        })
    }

    /// The exporters send `encoded` as the batch's protobuf form: nothing encodes it.
    fn consume_encoded(&self, data: Telemetry, encoded: Encoded) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            if data.is_empty() {
                return Ok(());
            }
            self.offer(&Arc::new(ExportBatch::with_encoding(data, encoded))).await
        })
    }

    fn consume_encoded_or_return(&self, data: Telemetry, encoded: Encoded) -> BoxFuture<'_, Result<(), Refused>> {
        Box::pin(async move {
            if data.is_empty() {
                return Ok(());
            }
            self.offer_or_return(ExportBatch::with_encoding(data, encoded)).await
        })
    }
}

impl ExporterFanOut {
    /// Offers `batch`; its data handed back, without a copy where no queue kept it,
    /// when no exporter took it.
    async fn offer_or_return(&self, batch: ExportBatch) -> Result<(), Refused> {
        let batch = Arc::new(batch);
        let Err(error) = self.offer(&batch).await else {
            return Ok(());
        };
        let data = match Arc::try_unwrap(batch) {
            Ok(batch) => batch.into_data(),
            // Another queue holds it (a durable one refused it): a copy.
            Err(shared) => shared.data().clone(),
        };
        Err(Refused::new(error, data))
    }
}

/// A receiver's output for one signal when several pipelines list the receiver:
/// each pipeline gets its own copy (processors mutate in place). A refusal from any
/// pipeline is returned so the client retries (at-least-once).
pub struct PipelineFanOut {
    pipelines: Vec<Arc<dyn Consumer>>,
}

impl PipelineFanOut {
    /// Fans out to `pipelines` (at least two; one needs no fan-out).
    pub fn new(pipelines: Vec<Arc<dyn Consumer>>) -> Self {
        Self { pipelines }
    }
}

impl Consumer for PipelineFanOut {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            let mut result = Ok(());
            let Some((last, rest)) = self.pipelines.split_last() else {
                return Ok(());
            };
            for pipeline in rest {
                if let Err(error) = pipeline.consume(data.clone()).await {
                    result = Err(error);
                }
            }
            if let Err(error) = last.consume(data).await {
                result = Err(error);
            }
            result
        })
    }

    /// Each pipeline gets the encoding too (a shared buffer, not a copy).
    fn consume_encoded(&self, data: Telemetry, encoded: Encoded) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            let mut result = Ok(());
            let Some((last, rest)) = self.pipelines.split_last() else {
                return Ok(());
            };
            for pipeline in rest {
                if let Err(error) = pipeline.consume_encoded(data.clone(), encoded.clone()).await {
                    result = Err(error);
                }
            }
            if let Err(error) = last.consume_encoded(data, encoded).await {
                result = Err(error);
            }
            result
        })
    }
}
