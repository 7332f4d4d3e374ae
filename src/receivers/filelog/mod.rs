//! `filelog` — tails files and sends each line (or multiline entry) as a log record,
//! as the Collector's filelog receiver does; with `storage`, it resumes after a
//! restart where it stopped, consistently with the processors' saved state, so an
//! SLO computed from a load balancer's access log counts each request once.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! # Keys and defaults (the Collector's)
//! - `include` (required), `exclude`: glob patterns (`*` within a directory, `**`
//!   across directories); `exclude_older_than`: skip files not modified for that
//!   long (default: none).
//! - `start_at`: `end` (default) or `beginning`. It applies to the files found at
//!   the very first poll only; files that appear later are read from their start,
//!   and after a restart from a checkpoint every file not in it is new.
//! - `poll_interval` (200ms); `max_concurrent_files` (1024: files read per poll,
//!   more wait for a later poll); `fingerprint_size` (`1kb` = 1000 bytes; sizes
//!   take `kb`/`mb` (powers of 1000) and `kib`/`mib` (of 1024)); `max_log_size`
//!   (1MiB: a longer entry is cut there and the rest becomes the next entry);
//!   `force_flush_period` (500ms: a last line without its newline is sent once the
//!   file has not grown for that long; 0 waits for the newline forever).
//! - `encoding`: `utf-8` (default), `utf-16le`, `utf-16be`, `ascii`, `nop` (the
//!   body is the raw bytes). Bytes that do not decode become U+FFFD.
//! - `multiline`: `line_start_pattern` or `line_end_pattern` (one of them), a
//!   regex that starts or ends each entry.
//! - `include_file_name` (true: `log.file.name`), `include_file_path`
//!   (`log.file.path`), `include_file_name_resolved` / `include_file_path_resolved`
//!   (symlinks resolved: `log.file.name_resolved` / `log.file.path_resolved`).
//! - `attributes`, `resource`: fixed attributes added to every record / resource.
//! - `storage`: a `file_storage` extension to keep the read state in.
//! - `retry_on_failure`: `enabled` (false), `initial_interval` (1s), `max_interval`
//!   (30s), `max_elapsed_time` (5m; 0: no limit). Enabled, a batch the pipeline
//!   refuses (retryably) is sent again with exponential backoff until it is taken
//!   or the time is up; disabled (or a permanent refusal), it is logged and dropped.
//!
//! Each entry is trimmed of surrounding whitespace and an empty one is not sent
//! (the Collector's defaults). Records carry `observed_time_unix_nano` (when read)
//! and the body; parsing them is the job of the stages ([`LineStages`]).
//!
//! # Rotation
//! Files are known by their fingerprint (their first `fingerprint_size` bytes), not
//! their path: a file whose first bytes start with a known fingerprint is that file
//! (it may have grown past a short fingerprint). So, per poll:
//! - renamed (`access.log` → `access.log.1`, a new `access.log`): the old file is
//!   read to its end through the handle kept open from the last poll, whether or not
//!   `include` still matches its new name (if it does, it is recognised and goes on
//!   at its offset); the new file is new and read from its start;
//! - copied and truncated: the truncated file, once it has new lines, has new first
//!   bytes and is read from its start; a file shorter than its offset is read from
//!   its start too;
//! - deleted: what it held when the last poll found it is read through the open
//!   handle;
//! - symlinks are followed; the same file under two matching paths is read once.
//!
//! # Checkpoints and replay positions
//! The read state is every known file's fingerprint and offset (the bytes handed on
//! as entries, never more). Each batch (up to [`BATCH_SIZE`] records, one
//! `ResourceLogs` per distinct resource) is handed to the pipeline through the
//! service's [`Replay`] with the read state
//! after it and a sequence number that grows per batch, so a processor that saves
//! its state (`slo`) saves the receiver's position with it. With `storage`, the
//! receiver also writes the state after every batch it is done with (taken or
//! dropped), at the end of each poll when it changed (files found, offsets moved to
//! the end), and at shutdown, to `receiver_<id>/checkpoint` in the extension's
//! directory (a temporary file renamed over it; synced when the extension has
//! `fsync: true`). At start it resumes from the older of its own checkpoint and the
//! oldest position a processor restored, and numbers on from the larger. Reading
//! stops while a batch is in the pipeline.
//!
//! Shutdown stops polling, finishes the batch in flight (a retry wait is cut short:
//! that batch is not checkpointed, so it is read again next time) and writes the
//! checkpoint. Read errors (permission denied, a file gone) are logged with the path
//! once per distinct error and never stop the receiver.
//!
//! Self-metrics: `otelcol_receiver_accepted_log_records` and
//! `otelcol_receiver_refused_log_records` with `receiver` and `transport="file"`.
//!
//! Differs from the Collector: keys it has that sloop does not implement
//! (`delete_after_read`, `ordering_criteria`, `compression`, `header`,
//! `include_file_owner_name`, `include_file_record_number`, `acquire_fs_lock`,
//! `multiline.omit_pattern`, …) are refused by name; `attributes` and `resource`
//! take literal values, not `EXPR(...)`; files beyond `max_concurrent_files` wait
//! for a later poll instead of being read in rounds; known files are remembered for
//! three polls after they were last found.

pub mod config;
pub mod entry;
pub mod format;
pub mod operators;
mod stages;
pub mod tail;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tokio_util::sync::CancellationToken;

pub use config::FileLogReceiverConfig;
use config::RetryOnFailure;
use entry::Entry;
pub use stages::LineStages;
use tail::checkpoint::CheckpointFile;
use tail::{TailSettings, Tailer};

use crate::component::registry::ReceiverFactory;
use crate::component::replay::{Position, Replay};
use crate::component::{
    find_storage, BoxFuture, BuildError, ComponentId, ConsumeError, Consumer, Lifecycle, Receiver, ReceiverConfig,
    ReceiverContext, ReceiverOutputs, Refused, Retry, Signal, StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::Telemetry;

/// Registry entry.
pub const FACTORY: ReceiverFactory = ReceiverFactory {
    type_name: "filelog",
    aliases: &[],
    signals: &[Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

/// Records per batch handed to the pipeline (a poll's last batch may be smaller,
/// and stages that turn one line into several may make one a little larger).
pub const BATCH_SIZE: usize = 1000;

fn parse(value: &RawValue) -> Result<Box<dyn ReceiverConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<FileLogReceiverConfig>(value)?))
}

impl ReceiverConfig for FileLogReceiverConfig {
    fn build(
        &self,
        id: &ComponentId,
        outputs: ReceiverOutputs,
        ctx: &ReceiverContext<'_>,
    ) -> Result<Arc<dyn Receiver>, BuildError> {
        let settings = TailSettings::from_config(self).map_err(|e| BuildError::at(e.path, e.message))?;
        let stages = LineStages::new(id, self)?;
        let checkpoint = match &self.storage {
            None => None,
            Some(name) => {
                let storage = find_storage(ctx.storage, name, "storage")?;
                let dir = storage.queue_dir("receiver", &id.to_string());
                Some(CheckpointFile::new(dir, storage.fsync))
            }
        };
        Ok(Arc::new(FileLogReceiver {
            id: id.clone(),
            prepared: Mutex::new(Some((settings, stages))),
            poll_interval: self.poll_interval,
            retry: self.retry_on_failure.clone(),
            output: outputs.logs,
            replay: ctx.service.replay.clone(),
            checkpoint,
            running: tokio::sync::Mutex::new(None),
            accepted: metrics::counter!(
                "otelcol_receiver_accepted_log_records",
                "receiver" => id.to_string(),
                "transport" => "file",
            ),
            refused: metrics::counter!(
                "otelcol_receiver_refused_log_records",
                "receiver" => id.to_string(),
                "transport" => "file",
            ),
        }))
    }

    fn storage(&self) -> Option<(String, String)> {
        self.storage.clone().map(|name| ("storage".into(), name))
    }
}

/// The running receiver: one task that polls, reads and sends.
pub struct FileLogReceiver {
    id: ComponentId,
    /// What the reading task is started with; taken by the first start.
    prepared: Mutex<Option<(TailSettings, LineStages)>>,
    poll_interval: Duration,
    retry: RetryOnFailure,
    output: Option<Arc<dyn Consumer>>,
    replay: Arc<Replay>,
    checkpoint: Option<CheckpointFile>,
    running: tokio::sync::Mutex<Option<Running>>,
    /// `otelcol_receiver_accepted_log_records`.
    accepted: metrics::Counter,
    /// `otelcol_receiver_refused_log_records`: batches dropped after a refusal.
    refused: metrics::Counter,
}

/// The reading task and how to stop it.
struct Running {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Lifecycle for FileLogReceiver {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move {
            let mut running = self.running.lock().await;
            if running.is_some() {
                return Ok(());
            }
            let prepared = self.prepared.lock().unwrap_or_else(|p| p.into_inner()).take();
            let Some((settings, stages)) = prepared else {
                return Err(StartError::new(&self.id, "started again after shutdown"));
            };
            let Some(output) = self.output.clone() else {
                tracing::warn!(message = "No logs pipeline takes this receiver's records; not reading.", receiver = %self.id);
                return Ok(());
            };
            if let Some(checkpoint) = &self.checkpoint {
                std::fs::create_dir_all(checkpoint.dir())
                    .map_err(|e| StartError::new(&self.id, format!("creating {}: {e}", checkpoint.dir().display())))?;
            }
            let (seq, tailer) = self.resume(settings);
            let sender = BatchSender {
                source: self.id.to_string(),
                consumer: output,
                replay: self.replay.clone(),
                checkpoint: self.checkpoint.clone(),
                retry: self.retry.clone(),
                seq,
                stored: None,
                refusals: RefusalLog::default(),
                accepted: self.accepted.clone(),
                refused: self.refused.clone(),
            };
            let stop = CancellationToken::new();
            let reader = Reader { tailer, stages };
            let task = tokio::spawn(run(reader, sender, self.poll_interval, stop.clone()));
            *running = Some(Running { stop, task });
            Ok(())
        })
    }

    /// Stops polling, waits for the batch in flight and the last checkpoint.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let running = self.running.lock().await.take();
            if let Some(Running { stop, task }) = running {
                stop.cancel();
                if let Err(e) = task.await {
                    tracing::error!(message = "The filelog reading task failed.", receiver = %self.id, error = %e);
                }
            }
        })
    }
}

impl FileLogReceiver {
    /// The tailer to start with and the last sequence number handed over: after a
    /// reload in this process, where the previous instance stopped; else from the
    /// older of this receiver's checkpoint and the processors' restored position,
    /// numbering on from the larger.
    fn resume(&self, settings: TailSettings) -> (u64, Tailer) {
        let own = self.checkpoint.as_ref().and_then(|checkpoint| match checkpoint.load() {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(message = "Ignoring an unreadable filelog checkpoint.", receiver = %self.id, error = %e);
                None
            }
        });
        // A reload that rebuilt this receiver: the processors kept their counts in
        // memory, so go on exactly where the previous instance's last accepted
        // batch ended, whatever was saved.
        if let Some(consumed) = self.replay.consumed(&self.id.to_string()) {
            let seq = own.as_ref().map_or(consumed.seq, |(seq, _)| consumed.seq.max(*seq));
            match Tailer::restore(settings.clone(), &consumed.state) {
                Ok(tailer) => return (seq, tailer),
                Err(e) => {
                    tracing::warn!(message = "Ignoring an unreadable filelog read state.", receiver = %self.id, error = %e)
                }
            }
        }
        let held = self.replay.resume_point(&self.id.to_string());
        let (seq, state): (u64, Option<Vec<u8>>) = match (own, held) {
            (None, None) => (0, None),
            (Some((seq, state)), None) => (seq, Some(state)),
            (None, Some(held)) => (held.seq, Some(held.state.to_vec())),
            (Some((seq, _)), Some(held)) if held.seq < seq => (seq, Some(held.state.to_vec())),
            (Some((seq, state)), Some(held)) => (seq.max(held.seq), Some(state)),
        };
        let tailer = match state {
            None => Tailer::new(settings),
            Some(state) => match Tailer::restore(settings.clone(), &state) {
                Ok(tailer) => tailer,
                Err(e) => {
                    tracing::warn!(message = "Ignoring an unreadable filelog read state.", receiver = %self.id, error = %e);
                    Tailer::new(settings)
                }
            },
        };
        (seq, tailer)
    }
}

/// What the blocking reads own, moved to a blocking thread for each step.
struct Reader {
    tailer: Tailer,
    stages: LineStages,
}

/// The reading task: polls every `poll_interval` until `stop`, sending each batch
/// before reading the next, and writes the checkpoint on the way out.
async fn run(mut reader: Reader, mut sender: BatchSender, poll_interval: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(poll_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        reader = match blocking(reader, |reader, _| reader.tailer.begin_poll()).await {
            Some((reader, _)) => reader,
            None => return,
        };
        loop {
            let step = blocking(reader, |reader, out| {
                reader.tailer.fill(&mut reader.stages, out, BATCH_SIZE)
            })
            .await;
            let Some((next, (done, batch))) = step else { return };
            reader = next;
            if !batch.is_empty() && !sender.send(batch, reader.tailer.state(), &stop).await {
                // Shut down while a refused batch waited for a retry: the checkpoint
                // stays before it, so it is read again next time.
                return;
            }
            if done || stop.is_cancelled() {
                break;
            }
        }
        // Files found and offsets moved without a batch (start_at: end) count too.
        sender.store(reader.tailer.state()).await;
    }
}

/// Runs `step` on `reader` on a blocking thread (file reads block), giving back
/// the reader, the step's result and the entries it produced; `None` if the step
/// panicked (logged).
async fn blocking<T: Send + 'static>(
    mut reader: Reader,
    step: impl FnOnce(&mut Reader, &mut Vec<Entry>) -> T + Send + 'static,
) -> Option<(Reader, (T, Vec<Entry>))> {
    let joined = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let result = step(&mut reader, &mut out);
        (reader, (result, out))
    })
    .await;
    match joined {
        Ok(done) => Some(done),
        Err(e) => {
            tracing::error!(message = "The filelog reader failed; it stops.", error = %e);
            None
        }
    }
}

/// Hands batches to the pipeline with their replay position, retries refusals as
/// configured, counts records, and keeps the checkpoint.
struct BatchSender {
    source: String,
    consumer: Arc<dyn Consumer>,
    replay: Arc<Replay>,
    checkpoint: Option<CheckpointFile>,
    retry: RetryOnFailure,
    /// The sequence number of the last batch handed over.
    seq: u64,
    /// The state last written to the checkpoint.
    stored: Option<Vec<u8>>,
    refusals: RefusalLog,
    accepted: metrics::Counter,
    refused: metrics::Counter,
}

/// How handing one batch over ended.
enum Outcome {
    Taken,
    Dropped(ConsumeError),
    /// Shutdown cut a retry wait short.
    Stopped,
}

impl BatchSender {
    /// Sends `entries`, after which the read state is `state`; false when shutdown
    /// stopped it before the batch was taken or given up.
    async fn send(&mut self, entries: Vec<Entry>, state: Vec<u8>, stop: &CancellationToken) -> bool {
        let count = entries.len() as u64;
        self.seq += 1;
        let shared: Arc<[u8]> = state.as_slice().into();
        match self.deliver(Telemetry::Logs(to_request(entries)), shared, stop).await {
            Outcome::Taken => self.accepted.increment(count),
            Outcome::Dropped(error) => {
                self.refused.increment(count);
                self.refusals.report(&self.source, count, &error);
            }
            // Not counted as refused: the batch is read again after the restart.
            Outcome::Stopped => return false,
        }
        self.store(state).await;
        true
    }

    /// Hands `data` over until it is taken, refused for good, or out of retries.
    async fn deliver(&self, mut data: Telemetry, state: Arc<[u8]>, stop: &CancellationToken) -> Outcome {
        let started = Instant::now();
        let mut wait = self.retry.initial_interval;
        loop {
            let position = Position {
                seq: self.seq,
                state: state.clone(),
            };
            let result = if self.retry.enabled {
                let consume = self.consumer.consume_or_return(data);
                self.replay.hand_over(&self.source, position, consume).await
            } else {
                let consume = self.consumer.consume(data);
                let result = self.replay.hand_over(&self.source, position, consume).await;
                result.map_err(|error| Refused { error, data: None })
            };
            let Refused { error, data: back } = match result {
                Ok(()) => return Outcome::Taken,
                Err(refused) => refused,
            };
            let Some(back) = back else {
                return Outcome::Dropped(error);
            };
            let delay = match error.retry {
                Retry::After(Some(at_least)) => wait.max(at_least),
                _ => wait,
            };
            let limit = self.retry.max_elapsed_time;
            if !limit.is_zero() && started.elapsed() + delay > limit {
                return Outcome::Dropped(error);
            }
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Outcome::Stopped,
                _ = tokio::time::sleep(delay) => {}
            }
            wait = (wait * 2).min(self.retry.max_interval);
            data = back;
        }
    }

    /// Writes `state` to the checkpoint if it differs from what is there.
    async fn store(&mut self, state: Vec<u8>) {
        let Some(checkpoint) = self.checkpoint.clone() else {
            return;
        };
        if self.stored.as_ref() == Some(&state) {
            return;
        }
        let seq = self.seq;
        let written = tokio::task::spawn_blocking(move || checkpoint.store(seq, &state).map(|()| state)).await;
        match written {
            Ok(Ok(state)) => self.stored = Some(state),
            Ok(Err(e)) => self.refusals.checkpoint_failed(&self.source, &e),
            Err(e) => self.refusals.checkpoint_failed(&self.source, &e.to_string()),
        }
    }
}

/// Batches given up and checkpoint writes that failed, logged at most once a
/// second each (with how many were not logged), so a pipeline that refuses
/// everything does not flood the log.
#[derive(Default)]
struct RefusalLog {
    last_drop: Option<Instant>,
    dropped_quietly: u64,
    last_checkpoint_error: Option<String>,
}

impl RefusalLog {
    fn report(&mut self, receiver: &str, records: u64, error: &ConsumeError) {
        if self.last_drop.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            self.dropped_quietly += records;
            return;
        }
        tracing::error!(
            message = "The pipeline refused a batch of log records; dropped.",
            receiver,
            records,
            dropped_since_last_logged = self.dropped_quietly,
            %error
        );
        self.last_drop = Some(Instant::now());
        self.dropped_quietly = 0;
    }

    fn checkpoint_failed(&mut self, receiver: &str, error: &str) {
        if self.last_checkpoint_error.as_deref() != Some(error) {
            tracing::error!(message = "Cannot write the filelog checkpoint.", receiver, %error);
            self.last_checkpoint_error = Some(error.to_string());
        }
    }
}

/// One request: a `ResourceLogs` per distinct resource (in order of first
/// appearance), each with one `ScopeLogs`.
pub fn to_request(entries: Vec<Entry>) -> ExportLogsServiceRequest {
    let mut groups: Vec<(Vec<KeyValue>, Vec<LogRecord>)> = Vec::new();
    for entry in entries {
        match groups.iter_mut().find(|(resource, _)| *resource == entry.resource) {
            Some((_, records)) => records.push(entry.record),
            None => groups.push((entry.resource, vec![entry.record])),
        }
    }
    ExportLogsServiceRequest {
        resource_logs: groups
            .into_iter()
            .map(|(attributes, log_records)| ResourceLogs {
                resource: Some(Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}
