//! One batch as every exporter of a pipeline shares it.

use std::sync::OnceLock;

use bytes::Bytes;

use super::{Signal, Telemetry};

/// A batch on its way to the exporters. Shared (behind an `Arc`) by every exporter of
/// a pipeline, so fan-out copies nothing and the protobuf encoding is done once.
#[derive(Debug)]
pub struct ExportBatch {
    data: Telemetry,
    items: usize,
    protobuf: OnceLock<Bytes>,
}

impl ExportBatch {
    /// Wraps a payload, counting its items once.
    pub fn new(data: Telemetry) -> Self {
        let items = data.item_count();
        Self {
            data,
            items,
            protobuf: OnceLock::new(),
        }
    }

    /// The payload.
    pub fn data(&self) -> &Telemetry {
        &self.data
    }

    /// The payload, taken back (a batch no exporter took).
    pub fn into_data(self) -> Telemetry {
        self.data
    }

    /// Spans, data points or log records in the batch.
    pub fn items(&self) -> usize {
        self.items
    }

    /// The signal.
    pub fn signal(&self) -> Signal {
        self.data.signal()
    }

    /// The protobuf encoding, computed on first use and shared afterwards.
    pub fn protobuf(&self) -> Bytes {
        self.protobuf
            .get_or_init(|| Bytes::from(self.data.encode_protobuf()))
            .clone()
    }
}
