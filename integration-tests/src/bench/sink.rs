//! The benchmark's backend: an OTLP/gRPC trace endpoint that counts spans and
//! measures how long they took to arrive, as cheaply as it can.
//!
//! The sink shares the two cores with the collector under test, so every cycle it
//! spends is taken from the thing being measured. It therefore does not decode
//! requests into prost structs (an allocation per attribute): it takes the raw
//! bytes through a codec of its own and walks the protobuf wire format with
//! prost's `encoding` primitives, reading only what it needs — the span count
//! and each `ResourceSpans`' newest span end time. `sloop loadgen` stamps the
//! first span of every request with an end time of exactly "now" at send, so the
//! newest end time in a `ResourceSpans` is the moment its request left the
//! generator, and arrival minus that is the end-to-end latency of the request.
//!
//! A *blackholed* sink accepts connections and requests and never answers, like a
//! backend that hangs: the overload scenario uses it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::encoding::{decode_key, decode_varint, WireType};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::NamedService;
use tonic::Status;

const TRACE_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// What the sink has seen since the last [`Sink::reset`].
#[derive(Debug, Default)]
struct Counters {
    spans: AtomicU64,
    requests: AtomicU64,
    malformed: AtomicU64,
    /// Latency of each arriving `ResourceSpans`, in microseconds.
    latencies_us: Mutex<Vec<u32>>,
    /// Requests by the `grpc-encoding` they arrived with (`identity` when absent),
    /// to check that an exporter told to compress really did.
    encodings: Mutex<BTreeMap<String, u64>>,
}

/// A running sink. Dropping it stops the server.
pub struct Sink {
    addr: SocketAddr,
    counters: Arc<Counters>,
    blackhole: Arc<AtomicBool>,
    _stop: oneshot::Sender<()>,
}

impl Sink {
    /// Starts a sink on a free loopback port. With `blackhole`, requests are
    /// taken and never answered.
    pub async fn start(blackhole: bool) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let blackhole = Arc::new(AtomicBool::new(blackhole));
        let service = SinkService {
            counters: counters.clone(),
            blackhole: blackhole.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let incoming = tokio_stream_listener(listener);
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            counters,
            blackhole,
            _stop: stop,
        })
    }

    /// `host:port` to export to.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Clears the counters and latencies, to start a measurement phase.
    pub fn reset(&self) {
        self.counters.spans.store(0, Ordering::Relaxed);
        self.counters.requests.store(0, Ordering::Relaxed);
        self.counters.malformed.store(0, Ordering::Relaxed);
        self.counters
            .latencies_us
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.counters
            .encodings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Requests received since the last reset, by their `grpc-encoding`
    /// (`identity` for requests that declared none).
    pub fn encodings(&self) -> BTreeMap<String, u64> {
        self.counters
            .encodings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Spans received since the last reset.
    pub fn spans(&self) -> u64 {
        self.counters.spans.load(Ordering::Relaxed)
    }

    /// Requests that were not valid OTLP trace requests since the last reset.
    pub fn malformed(&self) -> u64 {
        self.counters.malformed.load(Ordering::Relaxed)
    }

    /// Latencies (µs) since the last reset, unsorted.
    pub fn latencies_us(&self) -> Vec<u32> {
        self.counters
            .latencies_us
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether requests are left unanswered.
    pub fn set_blackhole(&self, on: bool) {
        self.blackhole.store(on, Ordering::Relaxed);
    }

    /// Waits until the span count stops changing for `quiet` or reaches
    /// `expected`, at most `limit`. Returns the count.
    pub async fn settle(&self, expected: Option<u64>, quiet: Duration, limit: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + limit;
        let mut last = self.spans();
        let mut last_change = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.spans();
            if expected.is_some_and(|e| now >= e) {
                return now;
            }
            if now != last {
                last = now;
                last_change = tokio::time::Instant::now();
            } else if last_change.elapsed() >= quiet {
                return now;
            }
            if tokio::time::Instant::now() >= deadline {
                return now;
            }
        }
    }
}

fn tokio_stream_listener(
    listener: TcpListener,
) -> impl futures_util::Stream<Item = std::io::Result<tokio::net::TcpStream>> + Send + 'static {
    futures_util::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| {
            let _ = stream.set_nodelay(true);
            stream
        });
        Some((accepted, listener))
    })
}

/// What one request holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Spans in the request.
    pub spans: u64,
    /// For each `ResourceSpans`, the newest span end time (ns since the epoch).
    pub newest_end_ns: Vec<u64>,
}

/// Walks an encoded `ExportTraceServiceRequest` (see the module comment for why
/// not `prost::Message::decode`). Field numbers are from the OTLP protos:
/// request.resource_spans = 1, ResourceSpans.scope_spans = 2, ScopeSpans.spans = 2,
/// Span.end_time_unix_nano = 8 (fixed64).
pub fn scan(body: &[u8]) -> Result<Scan, String> {
    let mut scan = Scan::default();
    for_each_field(body, |field, value| {
        if let (1, Field::Len(resource_spans)) = (field, value) {
            let mut newest = 0u64;
            for_each_field(resource_spans, |field, value| {
                if let (2, Field::Len(scope_spans)) = (field, value) {
                    for_each_field(scope_spans, |field, value| {
                        if let (2, Field::Len(span)) = (field, value) {
                            scan.spans += 1;
                            for_each_field(span, |field, value| {
                                if let (8, Field::Fixed64(end)) = (field, value) {
                                    newest = newest.max(end);
                                }
                                Ok(())
                            })?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })?;
            scan.newest_end_ns.push(newest);
        }
        Ok(())
    })?;
    Ok(scan)
}

/// One field's value, as far as the wire format tells.
enum Field<'a> {
    Varint,
    Fixed64(u64),
    Fixed32,
    Len(&'a [u8]),
}

fn for_each_field<'a>(
    mut buf: &'a [u8],
    mut visit: impl FnMut(u32, Field<'a>) -> Result<(), String>,
) -> Result<(), String> {
    while buf.has_remaining() {
        let (field, wire_type) = decode_key(&mut buf).map_err(|e| e.to_string())?;
        let value = match wire_type {
            WireType::Varint => {
                decode_varint(&mut buf).map_err(|e| e.to_string())?;
                Field::Varint
            }
            WireType::SixtyFourBit => {
                if buf.len() < 8 {
                    return Err("truncated fixed64".to_string());
                }
                Field::Fixed64(buf.get_u64_le())
            }
            WireType::ThirtyTwoBit => {
                if buf.len() < 4 {
                    return Err("truncated fixed32".to_string());
                }
                buf.advance(4);
                Field::Fixed32
            }
            WireType::LengthDelimited => {
                let len = usize::try_from(decode_varint(&mut buf).map_err(|e| e.to_string())?)
                    .map_err(|_| "length overflows usize".to_string())?;
                if buf.len() < len {
                    return Err("truncated length-delimited field".to_string());
                }
                let (value, rest) = buf.split_at(len);
                buf = rest;
                Field::Len(value)
            }
            WireType::StartGroup | WireType::EndGroup => {
                return Err("groups are not used by OTLP".to_string());
            }
        };
        visit(field, value)?;
    }
    Ok(())
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[derive(Clone)]
struct SinkService {
    counters: Arc<Counters>,
    blackhole: Arc<AtomicBool>,
}

impl NamedService for SinkService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl SinkService {
    async fn export(&self, body: Bytes) -> Result<ExportTraceServiceResponse, Status> {
        if self.blackhole.load(Ordering::Relaxed) {
            // Never answer; the client's timeout ends the call.
            std::future::pending::<()>().await;
        }
        let arrived = now_ns();
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        match scan(&body) {
            Ok(scan) => {
                self.counters.spans.fetch_add(scan.spans, Ordering::Relaxed);
                let mut latencies = self
                    .counters
                    .latencies_us
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                latencies.extend(
                    scan.newest_end_ns
                        .iter()
                        .filter(|&&sent| sent > 0)
                        .map(|&sent| (arrived.saturating_sub(sent) / 1000).min(u64::from(u32::MAX)) as u32),
                );
                Ok(ExportTraceServiceResponse::default())
            }
            Err(error) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                Err(Status::invalid_argument(format!("malformed request: {error}")))
            }
        }
    }
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<B> tower_service::Service<http::Request<B>> for SinkService
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != TRACE_EXPORT_PATH {
            return Box::pin(async { Ok(Status::unimplemented("only traces").into_http()) });
        }
        let encoding = request
            .headers()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .to_string();
        *self
            .counters
            .encodings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(encoding)
            .or_default() += 1;
        let service = self.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec::<ExportTraceServiceResponse>::default())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(256 * 1024 * 1024);
            Ok(grpc.unary(Unary(service), request).await)
        })
    }
}

struct Unary(SinkService);

impl tonic::server::UnaryService<Bytes> for Unary {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<Result<tonic::Response<ExportTraceServiceResponse>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move { service.export(request.into_inner()).await.map(tonic::Response::new) })
    }
}

/// Request: the raw bytes. Response: a prost message.
struct RawCodec<R>(PhantomData<fn() -> R>);

impl<R> Default for RawCodec<R> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<R: prost::Message + Send + 'static> Codec for RawCodec<R> {
    type Encode = R;
    type Decode = Bytes;
    type Encoder = MessageEncoder<R>;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        MessageEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder
    }
}

struct MessageEncoder<R>(PhantomData<fn() -> R>);

impl<R: prost::Message> Encoder for MessageEncoder<R> {
    type Item = R;
    type Error = Status;

    fn encode(&mut self, item: R, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding response: {e}")))
    }
}

struct BytesDecoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    use super::*;

    fn span(end: u64) -> Span {
        Span {
            name: "GET /".into(),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            start_time_unix_nano: end.saturating_sub(5),
            end_time_unix_nano: end,
            ..Default::default()
        }
    }

    #[test]
    fn scan_counts_spans_and_reads_the_newest_end_time_per_resource() {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    scope_spans: vec![
                        ScopeSpans {
                            spans: vec![span(10), span(30)],
                            ..Default::default()
                        },
                        ScopeSpans {
                            spans: vec![span(20)],
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
                ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span(7)],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
        };
        let scan = scan(&request.encode_to_vec()).unwrap();
        assert_eq!(scan.spans, 4);
        assert_eq!(scan.newest_end_ns, vec![30, 7]);
    }

    #[test]
    fn scan_rejects_truncated_input() {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span(10)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let bytes = request.encode_to_vec();
        assert!(scan(&bytes[..bytes.len() - 3]).is_err());
    }
}
