//! One batch as every exporter of a pipeline shares it.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::{client, ClientInfo, Signal, Telemetry};

/// A batch on its way to the exporters. Shared (behind an `Arc`) by every exporter of
/// a pipeline, so fan-out copies nothing and the protobuf encoding is done once.
#[derive(Debug)]
pub struct ExportBatch {
    signal: Signal,
    /// The decoded form; decoded on first use for a batch read back from a
    /// persistent queue, which exporters that send protobuf never need.
    data: OnceLock<Telemetry>,
    items: usize,
    protobuf: OnceLock<Bytes>,
    /// Who sent it ([`client`]): kept for exporters that send it on
    /// (`headers_setter`'s `from_context`). `None` for a batch merged from several
    /// requests or read back from a persistent queue.
    client: Option<Arc<ClientInfo>>,
}

impl ExportBatch {
    /// Wraps a payload, counting its items once. It keeps the current task's
    /// [`client::current`] information: the fan-out makes batches on the request's task.
    pub fn new(data: Telemetry) -> Self {
        let items = data.item_count();
        Self {
            signal: data.signal(),
            data: OnceLock::from(data),
            items,
            protobuf: OnceLock::new(),
            client: client::current(),
        }
    }

    /// As [`ExportBatch::new`], with the protobuf encoding the data arrived in
    /// (nothing changed it on the way), so that no exporter encodes it again.
    pub fn with_encoding(data: Telemetry, encoded: super::Encoded) -> Self {
        let batch = Self::new(data);
        let _ = batch.protobuf.set(encoded.into_bytes());
        batch
    }

    /// The same batch with `client` as who sent it.
    pub fn with_client(mut self, client: Option<Arc<ClientInfo>>) -> Self {
        self.client = client;
        self
    }

    /// Who sent the data, when one request did and its receiver kept it.
    pub fn client(&self) -> Option<&Arc<ClientInfo>> {
        self.client.as_ref()
    }

    /// A batch of `items` items of `signal` from its protobuf encoding (read back
    /// from a persistent queue, which checked it against its checksum).
    pub fn from_protobuf(signal: Signal, items: usize, protobuf: Bytes) -> Self {
        Self {
            signal,
            data: OnceLock::new(),
            items,
            protobuf: OnceLock::from(protobuf),
            client: None,
        }
    }

    /// Decodes the protobuf form. It was encoded by this program and checked
    /// against a checksum, so failing is not expected; if it happens the batch is
    /// empty for exporters that need the decoded form, and the error is logged.
    fn decode(&self) -> Telemetry {
        let bytes = self.protobuf.get().map(Bytes::as_ref).unwrap_or_default();
        Telemetry::decode_protobuf(self.signal, bytes).unwrap_or_else(|error| {
            tracing::error!(message = "A queued batch does not decode; it is passed on empty.", signal = %self.signal, %error);
            Telemetry::empty(self.signal)
        })
    }

    /// The payload.
    pub fn data(&self) -> &Telemetry {
        self.data.get_or_init(|| self.decode())
    }

    /// The payload, taken back (a batch no exporter took).
    pub fn into_data(self) -> Telemetry {
        match self.data.get() {
            Some(_) => self.data.into_inner().unwrap_or_else(|| Telemetry::empty(self.signal)),
            None => self.decode(),
        }
    }

    /// Spans, data points or log records in the batch.
    pub fn items(&self) -> usize {
        self.items
    }

    /// The signal.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The protobuf encoding, computed on first use and shared afterwards.
    pub fn protobuf(&self) -> Bytes {
        self.protobuf
            .get_or_init(|| Bytes::from(self.data().encode_protobuf()))
            .clone()
    }
}
