//! What a processor that answers its clients before it sends onward does when the
//! next stage refuses.
//!
//! `batch` and `tail_sampling` take a request, answer OK, and send the data on
//! later, from a timer or another client's request. If the next stage then refuses
//! it with a retryable error (every exporter queue of the pipeline is full), the
//! data was already acknowledged, so dropping it would lose it silently. Such a
//! processor keeps a [`Backlog`] instead: refused batches are *held* and offered
//! again, oldest first, every [`RETRY_INTERVAL`] and before any new data, and while
//! anything is held, new requests are refused with the same retryable error, so the
//! clients back off and what is held stays bounded by what was in flight when the
//! exporters filled up. A permanent refusal (a bug: a mismatched signal) is logged
//! and returned. Held data is what the next stage handed back with its refusal
//! ([`Consumer::consume_or_return`]): no copy is made for the exporters' fan-out or a
//! batch processor, which is what these processors usually send into. At shutdown, [`Backlog::drain`] offers held batches until the
//! service's deadline; what is still held then is logged and counted in
//! `otelcol_processor_dropped_spans` (`_metric_points`, `_log_records`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use metrics::Counter;
use tokio::sync::Notify;

use crate::component::{ConsumeError, Consumer, Refused, Retry, Signal};
use crate::pdata::{client, Encoded, Telemetry};

/// How often held batches are offered to the next stage again. Offering costs one
/// `try_send` per exporter queue, so a short interval costs nothing and lets data
/// flow again within moments of a queue having room.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(50);

/// A batch to send, with the encoding it arrived in when nothing changed it.
#[derive(Debug)]
pub struct Outgoing {
    /// The batch.
    pub data: Telemetry,
    /// Its protobuf encoding, when the processor has it (see [`Encoded`]).
    pub encoded: Option<Encoded>,
}

impl From<Telemetry> for Outgoing {
    fn from(data: Telemetry) -> Self {
        Self { data, encoded: None }
    }
}

/// Batches one processor took and the next stage refused. See the module docs.
pub struct Backlog {
    processor: String,
    state: Mutex<State>,
    /// Signalled when a batch is held, so the owner's timer starts offering it.
    held: Notify,
    dropped: [Counter; 3],
}

#[derive(Default)]
struct State {
    batches: VecDeque<Telemetry>,
    items: usize,
    /// The refusal that made the processor hold, returned to new requests meanwhile.
    refusal: Option<ConsumeError>,
    /// Set from the first hold until everything held was taken: each change is
    /// logged once, not per batch.
    blocked: bool,
}

impl Backlog {
    /// An empty backlog of the processor `processor` (its id, for logs and metrics).
    pub fn new(processor: impl Into<String>) -> Self {
        let processor = processor.into();
        let dropped = Signal::ALL.map(|signal| {
            metrics::counter!(format!("otelcol_processor_dropped_{}", signal.item_name()), "processor" => processor.clone())
        });
        Self {
            processor,
            state: Mutex::default(),
            held: Notify::new(),
            dropped,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a queue and two counters, each update complete under the lock.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether anything is held.
    pub fn is_holding(&self) -> bool {
        !self.lock().batches.is_empty()
    }

    /// Resolves once a batch is held (for a timer that sleeps while nothing is).
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.held.notified()
    }

    /// Lets new data in only if nothing is held, after offering what is held: the
    /// refusal for the new request otherwise.
    pub async fn admit(&self, next: &dyn Consumer) -> Result<(), ConsumeError> {
        if !self.is_holding() || self.resend(next).await {
            return Ok(());
        }
        let state = self.lock();
        if state.batches.is_empty() {
            return Ok(());
        }
        let after = match state.refusal.as_ref().map(|r| r.retry) {
            Some(Retry::After(after)) => after,
            _ => None,
        };
        Err(ConsumeError::retryable(
            format!(
                "{}: the pipeline's exporters cannot take data; {} items are waiting for room",
                self.processor, state.items
            ),
            after,
        ))
    }

    /// Sends `batches` in order. A batch refused with a retryable error is held,
    /// together with every batch after it; only a permanent refusal is returned.
    /// A batch's encoding ([`Outgoing::encoded`]) goes with it, but not into the
    /// backlog: a held batch is encoded again when it is sent (refusals are rare).
    pub async fn send_or_hold<B: Into<Outgoing>>(
        &self,
        next: &dyn Consumer,
        batches: Vec<B>,
    ) -> Result<(), ConsumeError> {
        let mut result = Ok(());
        let mut batches = batches.into_iter().map(Into::into);
        while let Some(Outgoing { data: batch, encoded }) = batches.next() {
            let items = batch.item_count();
            let offered = match encoded {
                Some(encoded) => next.consume_encoded_or_return(batch, encoded),
                None => next.consume_or_return(batch),
            };
            match client::scope(None, offered).await {
                Ok(()) => {}
                Err(Refused {
                    error,
                    data: Some(batch),
                }) => {
                    self.hold(
                        std::iter::once(batch).chain(batches.map(|outgoing| outgoing.data)),
                        error,
                        false,
                    );
                    break;
                }
                Err(Refused { error, data: None }) => {
                    tracing::error!(message = "Data refused downstream; it cannot succeed as sent.", processor = %self.processor, %error, dropped_items = items);
                    result = Err(error);
                }
            }
        }
        result
    }

    /// Keeps `batches` to resend; `front` puts them before those already held.
    fn hold(&self, batches: impl Iterator<Item = Telemetry>, error: ConsumeError, front: bool) {
        let mut state = self.lock();
        let was_blocked = std::mem::replace(&mut state.blocked, true);
        let batches: Vec<Telemetry> = batches.collect();
        state.items += batches.iter().map(Telemetry::item_count).sum::<usize>();
        if front {
            for batch in batches.into_iter().rev() {
                state.batches.push_front(batch);
            }
        } else {
            state.batches.extend(batches);
        }
        if !was_blocked {
            tracing::warn!(message = "The pipeline's exporters cannot take data: holding it and refusing new data until they can.", processor = %self.processor, %error, held_items = state.items);
        }
        state.refusal = Some(error);
        drop(state);
        self.held.notify_one();
    }

    /// Offers held batches to `next` again, oldest first, until one is refused.
    /// Returns whether nothing is held any more.
    pub async fn resend(&self, next: &dyn Consumer) -> bool {
        loop {
            let batch = {
                let mut state = self.lock();
                let Some(batch) = state.batches.pop_front() else {
                    return true;
                };
                state.items -= batch.item_count();
                batch
            };
            let items = batch.item_count();
            match client::scope(None, next.consume_or_return(batch)).await {
                Ok(()) => {
                    let mut state = self.lock();
                    if state.batches.is_empty() && std::mem::take(&mut state.blocked) {
                        tracing::info!(message = "The pipeline's exporters take data again; accepting new data.", processor = %self.processor);
                    }
                }
                Err(Refused {
                    error,
                    data: Some(batch),
                }) => {
                    self.hold(std::iter::once(batch), error, true);
                    return false;
                }
                Err(Refused { error, data: None }) => {
                    tracing::error!(message = "Held data refused downstream; it cannot succeed as sent.", processor = %self.processor, %error, dropped_items = items);
                }
            }
        }
    }

    /// At shutdown: offers what is held until it is taken. The caller bounds this by
    /// the shutdown deadline; if the future is dropped there, what is still held is
    /// counted and logged as dropped.
    pub async fn drain(&self, next: &dyn Consumer) {
        let _lost = DroppedAtShutdown(self);
        while !self.resend(next).await {
            tokio::time::sleep(RETRY_INTERVAL).await;
        }
    }
}

/// Counts and logs what a backlog still holds when its drain ends, including when
/// the drain is dropped at the shutdown deadline.
struct DroppedAtShutdown<'a>(&'a Backlog);

impl Drop for DroppedAtShutdown<'_> {
    fn drop(&mut self) {
        let backlog = self.0;
        let mut state = backlog.lock();
        let items = state.items;
        if items == 0 {
            return;
        }
        for batch in state.batches.drain(..) {
            backlog.dropped[batch.signal() as usize].increment(batch.item_count() as u64);
        }
        state.items = 0;
        tracing::error!(message = "Dropping data: the shutdown deadline passed while the exporters could not take it.", processor = %backlog.processor, dropped_items = items);
    }
}
