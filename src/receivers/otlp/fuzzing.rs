//! Entry points for the fuzz targets in `fuzz/` and for the unit tests that replay
//! their seed corpora: the receiver's decoding, intake checks and bounded
//! decompression, which are private to the receiver otherwise.
//!
//! Always compiled (hidden from the docs) rather than behind a cargo feature, so
//! `cargo test` and clippy build exactly what the fuzzers run, and a refactor of the
//! receiver cannot break the fuzz crate without breaking the workspace build too.

use axum::http::{header, HeaderMap, HeaderValue};

use super::http::{self, Encoding};
use super::intake::{drop_malformed_ids, encode_response, Rejected};
use crate::component::Signal;
use crate::pdata::Telemetry;

/// Decodes an `Export*ServiceRequest` body as OTLP/HTTP does: protobuf, or OTLP/JSON
/// when `json` (gRPC decodes protobuf with the same prost types).
pub fn decode(signal: Signal, json: bool, body: &[u8]) -> Result<Telemetry, String> {
    let encoding = if json { Encoding::Json } else { Encoding::Protobuf };
    http::decode(signal, encoding, body)
}

/// What a decoded request goes through in the receiver before the pipelines, for
/// both transports (`Intake::accept` without the pipelines): items with malformed IDs are dropped, and the response saying so is
/// encoded. Returns the data that would enter the pipelines and what was rejected.
pub fn intake(signal: Signal, json: bool, body: &[u8]) -> Result<(Telemetry, Rejected), String> {
    let mut data = decode(signal, json, body)?;
    let rejected = drop_malformed_ids(&mut data);
    encode_response(signal, &rejected, json);
    Ok((data, rejected))
}

/// Undoes `content_encoding` (`gzip`, `zstd`, `deflate`, `identity`, ...) on `raw`
/// as OTLP/HTTP does, never producing more than `limit` bytes. The error is the HTTP
/// status code and the message the client would get.
pub fn decompress(content_encoding: &str, raw: &[u8], limit: usize) -> Result<Vec<u8>, (u16, String)> {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(content_encoding).map_err(|e| (400, e.to_string()))?;
    headers.insert(header::CONTENT_ENCODING, value);
    http::decompress_for_test(&headers, raw, limit).map_err(|(status, message)| (status.as_u16(), message))
}
