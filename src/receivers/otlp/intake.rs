//! What both transports do with a decoded request: refuse it while shutting down,
//! drop items with malformed IDs (reported as partial success), hand the rest to the
//! pipelines, and count. [`grpc_status`] and [`http_status`] are the one place where
//! a refusal becomes a wire status.

use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use tokio::sync::{RwLock, RwLockReadGuard};
use tokio_util::sync::CancellationToken;

use super::client::ClientCheck;
use crate::component::{ComponentId, ConsumeError, Consumer, ReceiverOutputs, Retry, Signal};
use crate::pdata::{client, ClientInfo, Encoded, Telemetry};

/// The wire a request came in on (a label on the receiver's self-metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP.
    Http,
}

impl Transport {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
        }
    }
}

/// Items the receiver rejected, for the partial-success part of the response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejected {
    /// How many items.
    pub count: usize,
    /// Why, for the client.
    pub message: String,
}

/// The retry hint sent with refusals during shutdown: by then a load balancer has
/// usually taken this instance out, so a prompt retry reaches another one.
pub const SHUTTING_DOWN_RETRY: Duration = Duration::from_secs(1);

/// Why a request was not taken into the pipelines.
#[derive(Debug, Clone)]
pub enum Refused {
    /// The receiver is shutting down; the client should retry, elsewhere.
    ShuttingDown,
    /// A pipeline refused the data.
    Pipeline(ConsumeError),
}

impl Refused {
    /// What went wrong, for the client.
    pub fn message(&self) -> &str {
        match self {
            Refused::ShuttingDown => "sloop is shutting down; retry, another instance may take the data",
            Refused::Pipeline(error) => &error.message,
        }
    }
}

/// Whether requests may still enter the pipelines. One per receiver, shared by its
/// transports.
///
/// Every request that hands data to a pipeline holds a read guard while it does;
/// [`Admission::close`] marks the receiver as draining (so every later request is
/// refused with [`Refused::ShuttingDown`]) and then takes the write lock, which it gets
/// once the requests already inside have finished. Data a client was told is accepted
/// is therefore in the pipelines before the processors flush.
pub struct Admission {
    draining: CancellationToken,
    inside: RwLock<()>,
}

impl Admission {
    /// Open; closing it cancels `draining`.
    pub fn new(draining: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            draining,
            inside: RwLock::new(()),
        })
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Refuses every request from now on and waits for those already handing data to
    /// the pipelines. Cancel-safe: admission is closed on the first poll, so a caller
    /// may bound the wait with a timeout.
    pub async fn close(&self) {
        self.draining.cancel();
        drop(self.inside.write().await);
    }

    /// Lets a request in: the guard it holds while it hands data to the pipelines,
    /// or [`Refused::ShuttingDown`].
    pub async fn enter(&self) -> Result<RwLockReadGuard<'_, ()>, Refused> {
        // Checked before taking the guard (which queues behind a pending close) so a
        // request is not held up while close waits for a slow one, and again under
        // the guard, so close either waits for this request or it sees draining.
        if self.is_draining() {
            return Err(Refused::ShuttingDown);
        }
        let inside = self.inside.read().await;
        if self.is_draining() {
            return Err(Refused::ShuttingDown);
        }
        Ok(inside)
    }
}

/// The receiver's side of one transport: its pipeline entries and counters.
pub struct Intake {
    admission: Arc<Admission>,
    /// Authenticates requests and keeps their metadata (`auth`, `include_metadata`).
    pub client: Arc<ClientCheck>,
    outputs: ReceiverOutputs,
    accepted: [Counter; 3],
    refused: [Counter; 3],
}

impl Intake {
    /// Counters labelled with the receiver id and transport.
    pub fn new(
        id: &ComponentId,
        transport: Transport,
        outputs: ReceiverOutputs,
        admission: Arc<Admission>,
        client: Arc<ClientCheck>,
    ) -> Arc<Self> {
        let counters = |what: &str| {
            Signal::ALL.map(|s| {
                metrics::counter!(
                    format!("otelcol_receiver_{what}_{}", s.item_name()),
                    "receiver" => id.to_string(),
                    "transport" => transport.as_str(),
                )
            })
        };
        Arc::new(Self {
            admission,
            client,
            outputs,
            accepted: counters("accepted"),
            refused: counters("refused"),
        })
    }

    /// The pipeline entry for `signal`, if the receiver feeds any pipeline of it.
    pub fn consumer(&self, signal: Signal) -> Option<&Arc<dyn Consumer>> {
        self.outputs.get(signal)
    }

    /// Whether the receiver is shutting down (requests are refused).
    pub fn is_draining(&self) -> bool {
        self.admission.is_draining()
    }

    /// [`Intake::accept`] with `client` as the pipelines' [`client::current`].
    pub async fn accept_from(
        &self,
        client: Option<Arc<ClientInfo>>,
        data: Telemetry,
        encoded: Option<Encoded>,
    ) -> Result<Rejected, Refused> {
        client::scope(client, self.accept(data, encoded)).await
    }

    /// Passes a decoded request on, with the protobuf bytes it was decoded from when
    /// it came as protobuf (`encoded`: see [`Encoded`]). `Ok` carries what was
    /// rejected as malformed.
    pub async fn accept(&self, mut data: Telemetry, encoded: Option<Encoded>) -> Result<Rejected, Refused> {
        let signal = data.signal();
        let Some(consumer) = self.outputs.get(signal) else {
            return Err(Refused::Pipeline(ConsumeError::permanent(format!(
                "this receiver is in no {signal} pipeline"
            ))));
        };
        let _inside = self.admission.enter().await?;
        let rejected = drop_malformed_ids(&mut data);
        let i = signal as usize;
        self.refused[i].increment(rejected.count as u64);
        let items = data.item_count() as u64;
        if items == 0 {
            return Ok(rejected);
        }
        // Items dropped as malformed: the bytes no longer encode what is passed on.
        let passed = match encoded {
            Some(encoded) if rejected.count == 0 => consumer.consume_encoded(data, encoded),
            _ => consumer.consume(data),
        };
        match passed.await {
            Ok(()) => {
                self.accepted[i].increment(items);
                Ok(rejected)
            }
            Err(error) => {
                self.refused[i].increment(items);
                Err(Refused::Pipeline(error))
            }
        }
    }
}

/// Removes spans whose trace or span ID has the wrong length (or is all zeros), and
/// log records with a malformed ID, as the OTLP spec requires valid IDs. Rare, so
/// the common path is one length check per item.
pub fn drop_malformed_ids(data: &mut Telemetry) -> Rejected {
    fn valid_trace_id(id: &[u8]) -> bool {
        id.len() == 16 && id.iter().any(|b| *b != 0)
    }
    fn valid_span_id(id: &[u8]) -> bool {
        id.len() == 8 && id.iter().any(|b| *b != 0)
    }
    let mut count = 0;
    match data {
        Telemetry::Traces(request) => {
            for rs in &mut request.resource_spans {
                for ss in &mut rs.scope_spans {
                    let ok = |s: &opentelemetry_proto::tonic::trace::v1::Span| {
                        valid_trace_id(&s.trace_id)
                            && valid_span_id(&s.span_id)
                            && (s.parent_span_id.is_empty() || s.parent_span_id.len() == 8)
                    };
                    if !ss.spans.iter().all(ok) {
                        let before = ss.spans.len();
                        ss.spans.retain(ok);
                        count += before - ss.spans.len();
                    }
                }
            }
        }
        Telemetry::Logs(request) => {
            for rl in &mut request.resource_logs {
                for sl in &mut rl.scope_logs {
                    let ok = |l: &opentelemetry_proto::tonic::logs::v1::LogRecord| {
                        (l.trace_id.is_empty() || l.trace_id.len() == 16)
                            && (l.span_id.is_empty() || l.span_id.len() == 8)
                    };
                    if !sl.log_records.iter().all(ok) {
                        let before = sl.log_records.len();
                        sl.log_records.retain(ok);
                        count += before - sl.log_records.len();
                    }
                }
            }
        }
        Telemetry::Metrics(_) => {}
    }
    let message = match (count, data.signal()) {
        (0, _) => String::new(),
        (_, Signal::Traces) => {
            format!("{count} span(s) rejected: trace_id must be 16 bytes and span_id 8 bytes, not all zero")
        }
        _ => format!("{count} log record(s) rejected: trace_id must be empty or 16 bytes, span_id empty or 8 bytes"),
    };
    Rejected { count, message }
}

/// The traces response, with partial success when spans were rejected.
pub fn traces_response(rejected: &Rejected) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: (rejected.count > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected.count as i64,
            error_message: rejected.message.clone(),
        }),
    }
}

/// The metrics response, with partial success when data points were rejected.
pub fn metrics_response(rejected: &Rejected) -> ExportMetricsServiceResponse {
    ExportMetricsServiceResponse {
        partial_success: (rejected.count > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: rejected.count as i64,
            error_message: rejected.message.clone(),
        }),
    }
}

/// The logs response, with partial success when log records were rejected.
pub fn logs_response(rejected: &Rejected) -> ExportLogsServiceResponse {
    ExportLogsServiceResponse {
        partial_success: (rejected.count > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: rejected.count as i64,
            error_message: rejected.message.clone(),
        }),
    }
}

/// The Export*ServiceResponse for `signal`, encoded as protobuf or OTLP/JSON.
pub fn encode_response(signal: Signal, rejected: &Rejected, json: bool) -> Vec<u8> {
    fn encode<T: prost::Message + serde::Serialize>(response: T, json: bool) -> Vec<u8> {
        if json {
            // Serializing a prost struct into a Vec cannot fail.
            serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec())
        } else {
            response.encode_to_vec()
        }
    }
    match signal {
        Signal::Traces => encode(traces_response(rejected), json),
        Signal::Metrics => encode(metrics_response(rejected), json),
        Signal::Logs => encode(logs_response(rejected), json),
    }
}

/// The gRPC status for a refusal, per the OTLP spec: a full pipeline is
/// RESOURCE_EXHAUSTED with RetryInfo (retryable because the hint is present), shutting
/// down UNAVAILABLE with RetryInfo, any other retryable refusal UNAVAILABLE, and
/// malformed data INVALID_ARGUMENT.
pub fn grpc_status(refused: &Refused) -> tonic::Status {
    use tonic_types::{ErrorDetails, StatusExt};
    let retry_info = |code, delay| {
        tonic::Status::with_error_details(code, refused.message(), ErrorDetails::with_retry_info(Some(delay)))
    };
    match refused {
        Refused::ShuttingDown => retry_info(tonic::Code::Unavailable, SHUTTING_DOWN_RETRY),
        Refused::Pipeline(error) => match error.retry {
            Retry::After(Some(delay)) => retry_info(tonic::Code::ResourceExhausted, delay),
            Retry::After(None) => tonic::Status::unavailable(refused.message()),
            Retry::Never => tonic::Status::invalid_argument(refused.message()),
        },
    }
}

/// The HTTP status and Retry-After seconds for a refusal: 429 with Retry-After for a
/// full pipeline, 503 with Retry-After for shutting down and other retryable
/// refusals, 400 for malformed data.
pub fn http_status(refused: &Refused) -> (http::StatusCode, Option<u64>) {
    let seconds = |delay: Duration| Some(delay.as_secs().max(1));
    match refused {
        Refused::ShuttingDown => (http::StatusCode::SERVICE_UNAVAILABLE, seconds(SHUTTING_DOWN_RETRY)),
        Refused::Pipeline(error) => match error.retry {
            Retry::After(Some(delay)) => (http::StatusCode::TOO_MANY_REQUESTS, seconds(delay)),
            Retry::After(None) => (http::StatusCode::SERVICE_UNAVAILABLE, Some(1)),
            Retry::Never => (http::StatusCode::BAD_REQUEST, None),
        },
    }
}
