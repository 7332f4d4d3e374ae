//! The protobuf encoding a payload arrived in, carried beside its decoded form so
//! that exporters can send it without encoding it again.
//!
//! Decoding an OTLP request and encoding the batch again are the two largest costs
//! of a collector that changes nothing (the profile in BENCHMARKS.md: decode 44%,
//! encode 20% of passthrough). Protobuf makes the second avoidable: the
//! concatenation of two encodings of an `Export*ServiceRequest` is an encoding of
//! the request holding both one's resources and then the other's (repeated fields
//! append), which is exactly what the batch processor's merge builds. So a batch of
//! requests that no stage changed is sent as the concatenation of what arrived.
//!
//! The encoding travels beside the data, not inside it ([`crate::component::Consumer::consume_encoded`]):
//! a stage passes it on only when it knows the data is unchanged, and every other
//! stage drops it by default, so a processor that edits data cannot forget to
//! invalidate it. This is the Collector's `Capabilities.MutatesData` turned around:
//! the default is "may have changed it", and stages opt in to "did not".

use bytes::{Bytes, BytesMut};

/// A valid protobuf encoding of exactly the payload it travels with: one buffer,
/// or several to be concatenated ([`Encoded::join`]), which happens only when the
/// bytes are needed, outside any lock.
#[derive(Debug, Clone)]
pub struct Encoded(Vec<Bytes>);

impl Encoded {
    /// Wraps `bytes`, which the caller guarantees encode the payload they go with
    /// (a receiver: the request body it decoded that payload from).
    pub fn new(bytes: Bytes) -> Self {
        Self(vec![bytes])
    }

    /// The encoding of the payloads of `parts` merged in order (see the module docs):
    /// their concatenation, made when [`Encoded::into_bytes`] asks for it.
    pub fn join(parts: Vec<Encoded>) -> Encoded {
        Encoded(parts.into_iter().flat_map(|part| part.0).collect())
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    /// Whether it is empty (the encoding of an empty request).
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Bytes::is_empty)
    }

    /// The bytes, in one buffer.
    pub fn into_bytes(mut self) -> Bytes {
        if self.0.len() == 1 {
            return self.0.pop().unwrap_or_default();
        }
        let mut all = BytesMut::with_capacity(self.len());
        for part in &self.0 {
            all.extend_from_slice(part);
        }
        all.freeze()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    use super::*;
    use crate::pdata::Telemetry;
    use crate::testing::traces;

    /// The property the whole module rests on: the concatenation of two requests'
    /// encodings decodes to the two merged as `Telemetry::append` merges them.
    #[test]
    fn joined_encodings_decode_to_the_merged_requests() {
        let a = traces(&[&["a1", "a2"]]);
        let b = traces(&[&["b1"]]);
        let encode = |t: &Telemetry| Encoded::new(Bytes::from(t.encode_protobuf()));
        let joined = Encoded::join(vec![encode(&a), encode(&b)]);
        assert_eq!(joined.len(), a.encode_protobuf().len() + b.encode_protobuf().len());
        let mut merged = a.clone();
        merged.append(b).expect("same signal");
        let Telemetry::Traces(expected) = merged else {
            panic!("traces")
        };
        let decoded = ExportTraceServiceRequest::decode(joined.into_bytes()).expect("decodes");
        assert_eq!(decoded, expected);
        assert_eq!(decoded.resource_spans.len(), 2, "one resource from each");
    }
}
