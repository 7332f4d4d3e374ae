//! What happens to each line between the file and the batch: the `format` preset
//! parses it (a line that is not of the format is counted in
//! `otelcol_receiver_filelog_malformed_lines` and skipped, never sent half-read),
//! then the `operators` run on what it made, in order.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value;

use super::entry::Entry;
use super::format::Format;
use super::operators::Operators;
use super::FileLogReceiverConfig;
use crate::component::{BuildError, ComponentId};

/// At most one warning about malformed lines per this long (the counter has them
/// all).
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// The stages of one receiver.
///
/// The tailer calls [`process`](Self::process) for every entry it reads, in file
/// order, and [`flush`](Self::flush) at the end of every poll; whatever they push
/// into `out` is sent. A stage that keeps entries across calls (recombine) says so
/// with [`holds_entries`](Self::holds_entries).
#[derive(Debug)]
pub struct LineStages {
    format: Option<Format>,
    operators: Operators,
    malformed: metrics::Counter,
    /// When a malformed line was last logged, and how many came since.
    last_warning: Option<(Instant, u64)>,
}

impl LineStages {
    /// The stages of `config`, for the receiver `id`.
    pub fn new(id: &ComponentId, config: &FileLogReceiverConfig) -> Result<Self, BuildError> {
        let operators = Operators::build(&config.operators).map_err(|errors| {
            // `validate` reported these with the rest of the config; a build
            // reached with errors shows the first.
            let first = errors.into_iter().next();
            first.map_or_else(
                || BuildError::at("operators", "invalid"),
                |e| BuildError::at(e.path, e.message),
            )
        })?;
        let format = config.format;
        Ok(Self {
            format,
            operators,
            malformed: metrics::counter!(
                "otelcol_receiver_filelog_malformed_lines",
                "receiver" => id.to_string(),
                "format" => format.map_or("", |f| f.name()),
            ),
            last_warning: None,
        })
    }

    /// Turns `entry` into zero or more entries, pushed onto `out`.
    pub fn process(&mut self, mut entry: Entry, out: &mut Vec<Entry>) {
        if let Some(format) = self.format {
            if let Err(malformed) = format.parse(&mut entry) {
                self.malformed.increment(1);
                self.warn(&malformed, &entry);
                return;
            }
        }
        if self.operators.is_empty() {
            out.push(entry);
        } else {
            self.operators.process(entry, out);
        }
    }

    /// Pushes onto `out` whatever the stages still hold (end of a poll).
    pub fn flush(&mut self, out: &mut Vec<Entry>) {
        self.operators.flush(out);
    }

    /// Whether the stages hold entries not yet pushed out. Known limit: the read
    /// state handed over with a batch counts the lines behind held entries as
    /// read; [`LineStages::flush`] at the end of every poll keeps that window short.
    pub fn holds_entries(&self) -> bool {
        self.operators.holds_entries()
    }

    fn warn(&mut self, malformed: &super::format::Malformed, entry: &Entry) {
        let now = Instant::now();
        match &mut self.last_warning {
            Some((last, since)) if now.duration_since(*last) < WARN_INTERVAL => *since += 1,
            last_warning => {
                let skipped_since = last_warning.map_or(0, |(_, since)| since);
                *last_warning = Some((now, 0));
                let file = entry
                    .record
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "log.file.name")
                    .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                        any_value::Value::StringValue(name) => Some(name.as_str()),
                        _ => None,
                    });
                tracing::warn!(
                    message = "Skipped a line that is not of the receiver's format.",
                    error = %malformed,
                    file = file.unwrap_or(""),
                    skipped_since_last_warning = skipped_since,
                );
            }
        }
    }
}
