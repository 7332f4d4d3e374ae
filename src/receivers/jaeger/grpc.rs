//! `jaeger.api_v2.CollectorService/PostSpans` over gRPC.
//!
//! The service is written out by hand (as tonic's generated code would be) around
//! the hand-written messages of `proto.rs`: sloop builds without `protoc`. Its codec
//! answers a body that is not a `PostSpansRequest` with INVALID_ARGUMENT.

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder};
use tonic::codegen::{Body, BoxFuture, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::intake::Intake;
use super::proto::{self, PostSpansRequest, PostSpansResponse};
use crate::receivers::otlp::grpc_status;

const PATH: &str = "/jaeger.api_v2.CollectorService/PostSpans";

/// Serves `CollectorService` on `listener` until `draining` is cancelled.
pub async fn serve(listener: TcpListener, intake: Arc<Intake>, max_message_bytes: usize, draining: CancellationToken) {
    let service = CollectorService {
        intake,
        max_message_bytes,
    };
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let served = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, draining.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::warn!(message = "Jaeger gRPC server failed.", %error);
    }
}

/// `jaeger.api_v2.CollectorService`.
#[derive(Clone)]
struct CollectorService {
    intake: Arc<Intake>,
    max_message_bytes: usize,
}

impl NamedService for CollectorService {
    const NAME: &'static str = "jaeger.api_v2.CollectorService";
}

impl<B> tower::Service<http::Request<B>> for CollectorService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != PATH {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let method = PostSpans(self.intake.clone());
        let mut accepted = EnabledCompressionEncodings::default();
        accepted.enable(CompressionEncoding::Gzip);
        let mut grpc = Grpc::new(PostSpansCodec)
            .apply_compression_config(accepted, EnabledCompressionEncodings::default())
            .apply_max_message_size_config(Some(self.max_message_bytes), None);
        Box::pin(async move { Ok(grpc.unary(method, request).await) })
    }
}

struct PostSpans(Arc<Intake>);

impl UnaryService<PostSpansRequest> for PostSpans {
    type Response = PostSpansResponse;
    type Future = BoxFuture<Response<PostSpansResponse>, Status>;

    fn call(&mut self, request: Request<PostSpansRequest>) -> Self::Future {
        let intake = self.0.clone();
        Box::pin(async move {
            let batch = proto::to_model(request.into_inner())
                .map_err(|e| Status::invalid_argument(format!("malformed PostSpansRequest: {e}")))?;
            intake.accept(batch).await.map_err(|refused| grpc_status(&refused))?;
            Ok(Response::new(PostSpansResponse {}))
        })
    }
}

/// prost both ways; a request that does not decode is INVALID_ARGUMENT (tonic-prost's
/// codec says INTERNAL).
struct PostSpansCodec;

impl Codec for PostSpansCodec {
    type Encode = PostSpansResponse;
    type Decode = PostSpansRequest;
    type Encoder = ProstEncoder;
    type Decoder = ProstDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder(PhantomData)
    }
}

struct ProstEncoder;

impl Encoder for ProstEncoder {
    type Item = PostSpansResponse;
    type Error = Status;

    fn encode(&mut self, item: PostSpansResponse, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // EncodeBuf grows as needed: prost's only error is a buffer without room.
        item.encode(dst).map_err(|e| Status::internal(e.to_string()))
    }
}

struct ProstDecoder(PhantomData<PostSpansRequest>);

impl Decoder for ProstDecoder {
    type Item = PostSpansRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<PostSpansRequest>, Status> {
        PostSpansRequest::decode(src)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("malformed PostSpansRequest: {e}")))
    }
}
