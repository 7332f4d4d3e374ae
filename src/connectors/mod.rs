//! Connectors: an exporter at the end of one pipeline and a receiver at the start of
//! others, in the Collector's shape (`connectors:`; the id listed under a pipeline's
//! `exporters` and under another's `receivers`).
//!
//! | connector | takes → emits | does |
//! |---|---|---|
//! | [`forward`] | any signal → the same signal | hands everything to every pipeline that lists it |
//! | [`routing`] | any signal → the same signal | sends each resource, span, log or metric to the pipelines of the first route whose condition holds |
//! | [`span_metrics`] | traces → metrics | counts calls and records durations per service, span name, kind, status and configured dimensions |
//!
//! A connector is built once per (from, to) pair of signals it joins. What it emits
//! goes into the pipelines that list it as a receiver; a refusal from one of them
//! comes back to the sender of the data (a retryable one makes the client retry), so
//! nothing a connector accepted is lost silently. What a connector leaves out by design
//! (data no route takes, spans without a service) is counted in its self-metrics and
//! logged, at most once per [`DROP_LOG_INTERVAL`].

pub mod forward;
pub mod routing;
pub mod span_metrics;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::component::{ConsumeError, Consumer, Retry};
use crate::pdata::Telemetry;

/// How often, at most, a connector logs data it leaves out by design.
pub const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Sends `data` to each of `outputs` (each gets its own copy; the last gets `data`
/// itself). Every output is offered the data even when one refuses; the refusal is
/// returned then, a retryable one in preference, so the sender tries again rather
/// than give up on pipelines that would take it (at-least-once, as the graph's own
/// fan-out).
pub(crate) async fn send_to_all(outputs: &[Arc<dyn Consumer>], data: Telemetry) -> Result<(), ConsumeError> {
    let Some((last, rest)) = outputs.split_last() else {
        return Ok(());
    };
    let mut refusal = None;
    for output in rest {
        if let Err(error) = output.consume(data.clone()).await {
            refusal = Some(keep_retryable(refusal, error));
        }
    }
    if let Err(error) = last.consume(data).await {
        refusal = Some(keep_retryable(refusal, error));
    }
    refusal.map_or(Ok(()), Err)
}

/// Of two refusals, the one that makes the sender retry (the first such).
pub(crate) fn keep_retryable(kept: Option<ConsumeError>, new: ConsumeError) -> ConsumeError {
    match kept {
        Some(kept) if kept.retry != Retry::Never || new.retry == Retry::Never => kept,
        _ => new,
    }
}

/// Logs what a connector leaves out by design without flooding the log: the first
/// time, then at most once per [`DROP_LOG_INTERVAL`] with everything left out since
/// the last line.
#[derive(Debug, Default)]
pub(crate) struct DropLog {
    last: Mutex<Option<Instant>>,
    pending: AtomicU64,
}

impl DropLog {
    /// Records `items` left out; calls `log` with the total not yet logged when it
    /// is time for a line.
    pub(crate) fn record(&self, items: u64, log: impl FnOnce(u64)) {
        self.pending.fetch_add(items, Ordering::Relaxed);
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| now.duration_since(at) < DROP_LOG_INTERVAL) {
            return;
        }
        *last = Some(now);
        drop(last);
        let total = self.pending.swap(0, Ordering::Relaxed);
        if total > 0 {
            log(total);
        }
    }
}

/// Building connectors in unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use figment::providers::Format;

    use crate::component::registry::ConnectorFactory;
    use crate::component::{
        BuildError, ComponentId, ConnectorConfig, ConnectorContext, Consumer, Processor, ServiceHandles, Signal,
    };
    use crate::confmap::ConfigError;

    /// Parses `yaml` (the connector's block) with `factory`.
    pub(crate) fn parse(factory: &ConnectorFactory, yaml: &str) -> Result<Box<dyn ConnectorConfig>, Vec<ConfigError>> {
        let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
            .extract()
            .unwrap_or_default();
        (factory.parse)(&figment::value::Value::from(dict))
    }

    /// Asserts each `(yaml, path, message)`: the block is refused with an error at
    /// `path` whose message contains `message`.
    pub(crate) fn assert_refused(factory: &ConnectorFactory, cases: &[(&str, &str, &str)]) {
        for (yaml, path, message) in cases {
            let errors = parse(factory, yaml).err().unwrap_or_else(|| panic!("{yaml} accepted"));
            assert!(
                errors.iter().any(|e| e.path == *path && e.message.contains(message)),
                "{yaml}: {errors:?}"
            );
        }
    }

    /// Builds `config` as `id`, joining `from` to `to`, with `outputs` by pipeline name.
    pub(crate) fn build(
        config: &dyn ConnectorConfig,
        id: &str,
        from: Signal,
        to: Signal,
        outputs: &[(&str, Arc<dyn Consumer>)],
    ) -> Result<Arc<dyn Processor>, BuildError> {
        let id = ComponentId::parse(id).expect("a valid component id");
        let outputs: BTreeMap<String, Arc<dyn Consumer>> =
            outputs.iter().map(|(name, c)| (name.to_string(), c.clone())).collect();
        let service = ServiceHandles::default();
        config.build(&ConnectorContext {
            id: &id,
            from,
            to,
            outputs: &outputs,
            service: &service,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{traces, Recorder};

    #[tokio::test]
    async fn send_to_all_offers_every_output_and_prefers_a_retryable_refusal() {
        let (a, b, c) = (Recorder::new(), Recorder::new(), Recorder::new());
        *a.refuse.lock().unwrap() = Some(ConsumeError::permanent("bad"));
        *b.refuse.lock().unwrap() = Some(ConsumeError::retryable("full", None));
        let outputs: Vec<Arc<dyn Consumer>> = vec![a.clone(), b.clone(), c.clone()];
        let error = send_to_all(&outputs, traces(&[&["x"]])).await.unwrap_err();
        assert_eq!(error.message, "full");
        assert_eq!(c.batch_sizes(), vec![1], "the last output still got the data");
    }

    #[test]
    fn drop_log_logs_the_first_time_then_at_most_once_per_interval() {
        let log = DropLog::default();
        let mut lines = Vec::new();
        log.record(3, |n| lines.push(n));
        log.record(2, |n| lines.push(n));
        log.record(4, |n| lines.push(n));
        assert_eq!(lines, vec![3]);
        assert_eq!(
            log.pending.load(Ordering::Relaxed),
            6,
            "the rest waits for the next line"
        );
    }
}
