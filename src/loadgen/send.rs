//! The two transports: OTLP/gRPC (pre-encoded bytes through tonic, with the
//! exporter's pass-through codec) and OTLP/HTTP protobuf (reqwest).

use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::Protocol;
use crate::exporters::otlp_grpc::codec::PreEncoded;

const TRACE_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// A connected (lazily) OTLP trace client.
#[derive(Clone)]
pub enum TraceClient {
    /// OTLP/gRPC.
    Grpc {
        /// One HTTP/2 connection, multiplexed by every sender.
        channel: Channel,
        /// `--header`s as gRPC metadata.
        metadata: MetadataMap,
        /// Compress requests with gzip.
        gzip: bool,
    },
    /// OTLP/HTTP with protobuf bodies.
    Http {
        /// The pooled client.
        client: reqwest::Client,
        /// `.../v1/traces`.
        url: String,
        /// `--header`s.
        headers: reqwest::header::HeaderMap,
        /// Compress requests with gzip.
        gzip: bool,
    },
}

impl TraceClient {
    /// Builds a client for `endpoint` (a scheme is optional; `http://` is assumed).
    pub fn new(
        protocol: Protocol,
        endpoint: &str,
        headers: &[(String, String)],
        gzip: bool,
        timeout: Duration,
    ) -> Result<Self, String> {
        let endpoint = if endpoint.contains("://") {
            endpoint.to_string()
        } else {
            format!("http://{endpoint}")
        };
        match protocol {
            Protocol::Grpc => {
                let mut builder = Endpoint::from_shared(endpoint.clone())
                    .map_err(|e| format!("invalid endpoint {endpoint}: {e}"))?
                    .connect_timeout(timeout)
                    .timeout(timeout)
                    .tcp_nodelay(true);
                if endpoint.starts_with("https://") {
                    builder = builder
                        .tls_config(ClientTlsConfig::new().with_native_roots())
                        .map_err(|e| format!("tls: {e}"))?;
                }
                let mut metadata = MetadataMap::new();
                for (key, value) in headers {
                    let key = MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes())
                        .map_err(|e| format!("header {key:?}: {e}"))?;
                    let value = MetadataValue::try_from(value.as_str()).map_err(|e| format!("header {key}: {e}"))?;
                    metadata.insert(key, value);
                }
                Ok(Self::Grpc {
                    channel: builder.connect_lazy(),
                    metadata,
                    gzip,
                })
            }
            Protocol::Http => {
                let trimmed = endpoint.trim_end_matches('/');
                let url = if trimmed.ends_with("/v1/traces") {
                    trimmed.to_string()
                } else {
                    format!("{trimmed}/v1/traces")
                };
                let mut map = reqwest::header::HeaderMap::new();
                for (key, value) in headers {
                    let name = reqwest::header::HeaderName::from_bytes(key.as_bytes())
                        .map_err(|e| format!("header {key:?}: {e}"))?;
                    let value =
                        reqwest::header::HeaderValue::from_str(value).map_err(|e| format!("header {key}: {e}"))?;
                    map.insert(name, value);
                }
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .timeout(timeout)
                    .tcp_nodelay(true)
                    .build()
                    .map_err(|e| format!("http client: {e}"))?;
                Ok(Self::Http {
                    client,
                    url,
                    headers: map,
                    gzip,
                })
            }
        }
    }

    /// Sends one pre-encoded request. `Ok(rejected spans)` on success (partial
    /// success included); `Err(kind)` on failure, e.g. `grpc Unavailable`, `http 503`.
    pub async fn export(&self, body: Bytes) -> Result<u64, String> {
        match self {
            Self::Grpc {
                channel,
                metadata,
                gzip,
            } => {
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                if *gzip {
                    grpc = grpc
                        .send_compressed(CompressionEncoding::Gzip)
                        .accept_compressed(CompressionEncoding::Gzip);
                }
                grpc.ready().await.map_err(|_| "connect".to_string())?;
                let mut request = tonic::Request::new(body);
                *request.metadata_mut() = metadata.clone();
                let response = grpc
                    .unary(
                        request,
                        PathAndQuery::from_static(TRACE_EXPORT_PATH),
                        PreEncoded::<ExportTraceServiceResponse>::default(),
                    )
                    .await
                    .map_err(|status| {
                        // tonic reports the channel's request timeout as CANCELLED.
                        if status.code() == tonic::Code::Cancelled && status.message().contains("Timeout") {
                            "timeout".to_string()
                        } else {
                            format!("grpc {:?}", status.code())
                        }
                    })?;
                Ok(rejected(response.into_inner()))
            }
            Self::Http {
                client,
                url,
                headers,
                gzip,
            } => {
                let mut request = client
                    .post(url)
                    .headers(headers.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf");
                request = if *gzip {
                    request
                        .header(reqwest::header::CONTENT_ENCODING, "gzip")
                        .body(gzip_bytes(&body))
                } else {
                    request.body(body)
                };
                let response = request.send().await.map_err(|e| {
                    if e.is_timeout() {
                        "timeout".to_string()
                    } else if e.is_connect() {
                        "connect".to_string()
                    } else {
                        "transport".to_string()
                    }
                })?;
                let status = response.status();
                if !status.is_success() {
                    return Err(format!("http {}", status.as_u16()));
                }
                let protobuf = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes().starts_with(b"application/x-protobuf"));
                let body = response.bytes().await.map_err(|_| "transport".to_string())?;
                if !protobuf || body.is_empty() {
                    return Ok(0);
                }
                ExportTraceServiceResponse::decode(body)
                    .map(rejected)
                    .map_err(|_| "bad response".to_string())
            }
        }
    }
}

fn rejected(response: ExportTraceServiceResponse) -> u64 {
    response
        .partial_success
        .map(|p| p.rejected_spans.max(0) as u64)
        .unwrap_or(0)
}

fn gzip_bytes(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// When request number `k` (from 0) is due, measured from the start of the run,
/// so that `rate` spans per second go out on average: request `k` carries
/// `spans_per_request` spans, so it is due after `k × spans_per_request / rate`
/// seconds. `None` when there is no rate limit (`rate` 0).
pub fn due_after(k: u64, spans_per_request: u64, rate: u64) -> Option<Duration> {
    if rate == 0 {
        return None;
    }
    let nanos = u128::from(k) * u128::from(spans_per_request) * 1_000_000_000 / u128::from(rate);
    Some(Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
}
