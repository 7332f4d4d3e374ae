//! The typed SLO status API: the `sloop.v1.SloService` gRPC service (defined in
//! `proto/sloop/v1/slo.proto`, generated into [`crate::api`]), served on the admin
//! address next to the JSON routes, over the same [`SloSource`].
//!
//! - `List`: every objective's status, in name order (`GET /api/v1/slos`).
//! - `Get`: one objective's status (`GET /api/v1/slos/{name}`); `NOT_FOUND` when no
//!   objective has that name.
//! - `Watch`: first every matching status, then each status again whenever it
//!   differs from the one last sent for that name (every field compared), and a
//!   `removed` change when an objective sent before is gone (a reload took it out).
//!   sloop compares every `min_interval_ms` (default [`DEFAULT_WATCH_INTERVAL`],
//!   within [`MIN_WATCH_INTERVAL`]..=[`MAX_WATCH_INTERVAL`]). A status is computed at
//!   the current minute, so it also changes as minutes pass with events in its burn
//!   rate windows. The stream ends when the client goes away or sloop shuts down (the
//!   admin server's stop token), so a watcher never holds up shutdown.
//!
//! gRPC needs HTTP/2: the admin listener speaks HTTP/1.1 and HTTP/2 without TLS
//! (h2c, prior knowledge) on the same port. Every RPC reads; nothing changes state.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::SloSource;
use crate::api::v1::slo_service_server::{SloService, SloServiceServer};
use crate::api::v1::{watch_response, GetRequest, ListRequest, ListResponse, SloStatus, WatchRequest, WatchResponse};

/// How often a `Watch` compares statuses when the request does not say.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest interval a `Watch` may ask for (shorter ones are raised to it).
pub const MIN_WATCH_INTERVAL: Duration = Duration::from_millis(100);
/// The longest interval a `Watch` may ask for (longer ones are lowered to it).
pub const MAX_WATCH_INTERVAL: Duration = Duration::from_secs(60);

/// The `sloop.v1.SloService` implementation over an [`SloSource`].
pub struct SloGrpc {
    slos: Arc<dyn SloSource>,
    stop: CancellationToken,
}

impl SloGrpc {
    /// The service as a tower service for the admin router; `Watch` streams end at
    /// `stop`.
    pub fn server(slos: Arc<dyn SloSource>, stop: CancellationToken) -> SloServiceServer<SloGrpc> {
        SloServiceServer::new(SloGrpc { slos, stop })
    }
}

/// The stream a `Watch` answers with.
type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl SloService for SloGrpc {
    async fn list(&self, _request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        Ok(Response::new(ListResponse {
            slos: self.slos.slo_statuses(),
        }))
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<SloStatus>, Status> {
        let name = request.into_inner().name;
        match self.slos.slo_status(&name) {
            Some(status) => Ok(Response::new(status)),
            None => Err(Status::not_found(format!("no SLO named {name:?}"))),
        }
    }

    type WatchStream = WatchStream;

    async fn watch(&self, request: Request<WatchRequest>) -> Result<Response<WatchStream>, Status> {
        let request = request.into_inner();
        let mut ticks = tokio::time::interval(watch_interval(request.min_interval_ms));
        // A client slower than the interval gets the next check an interval after
        // it caught up, not a burst of checks.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let watch = Watch {
            slos: self.slos.clone(),
            changes: ChangeDetector::new(request.names),
            pending: VecDeque::new(),
            ticks,
            stop: self.stop.clone(),
        };
        let stream = futures_util::stream::unfold(watch, |mut watch| async move {
            let change = watch.next().await?;
            Some((Ok::<_, Status>(change), watch))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The interval a `Watch` asked for, within bounds.
fn watch_interval(min_interval_ms: Option<u32>) -> Duration {
    min_interval_ms
        .map(|ms| Duration::from_millis(u64::from(ms)))
        .unwrap_or(DEFAULT_WATCH_INTERVAL)
        .clamp(MIN_WATCH_INTERVAL, MAX_WATCH_INTERVAL)
}

/// One `Watch` stream's state. Dropped (and with it everything it holds) when the
/// client goes away.
struct Watch {
    slos: Arc<dyn SloSource>,
    changes: ChangeDetector,
    /// Changes found and not yet sent.
    pending: VecDeque<WatchResponse>,
    /// The first tick is at once: the initial statuses go out without waiting.
    ticks: tokio::time::Interval,
    stop: CancellationToken,
}

impl Watch {
    /// The next change to send; `None` (the stream ends) once sloop shuts down.
    async fn next(&mut self) -> Option<WatchResponse> {
        loop {
            if self.stop.is_cancelled() {
                return None;
            }
            if let Some(change) = self.pending.pop_front() {
                return Some(change);
            }
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return None,
                _ = self.ticks.tick() => {}
            }
            let current = self.changes.read(self.slos.as_ref());
            self.pending.extend(self.changes.changes(current));
        }
    }
}

/// Which statuses a `Watch` has to send: those of the watched names that are new
/// or differ from the one last sent, and the names that disappeared.
#[derive(Debug, Default)]
pub struct ChangeDetector {
    /// The watched names; empty: all.
    names: BTreeSet<String>,
    /// The status last sent, by name.
    sent: BTreeMap<String, SloStatus>,
}

impl ChangeDetector {
    /// Watches `names` (empty: every objective).
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        ChangeDetector {
            names: names.into_iter().collect(),
            sent: BTreeMap::new(),
        }
    }

    /// The current statuses of the watched objectives.
    fn read(&self, slos: &dyn SloSource) -> Vec<SloStatus> {
        if self.names.is_empty() {
            slos.slo_statuses()
        } else {
            self.names.iter().filter_map(|name| slos.slo_status(name)).collect()
        }
    }

    /// The changes from the statuses last sent to `current` (in name order, then
    /// the removals), remembered as sent.
    pub fn changes(&mut self, current: Vec<SloStatus>) -> Vec<WatchResponse> {
        let mut changes = Vec::new();
        let mut seen = BTreeSet::new();
        for status in current {
            if !self.names.is_empty() && !self.names.contains(&status.name) {
                continue;
            }
            seen.insert(status.name.clone());
            if self.sent.get(&status.name) == Some(&status) {
                continue;
            }
            self.sent.insert(status.name.clone(), status.clone());
            changes.push(WatchResponse {
                change: Some(watch_response::Change::Status(status)),
            });
        }
        let removed: Vec<String> = self.sent.keys().filter(|name| !seen.contains(*name)).cloned().collect();
        for name in removed {
            self.sent.remove(&name);
            changes.push(WatchResponse {
                change: Some(watch_response::Change::Removed(name)),
            });
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures_util::StreamExt;

    use super::*;
    use crate::api::v1::Alerts;

    fn status(name: &str, total: f64) -> SloStatus {
        SloStatus {
            name: name.into(),
            sli: "checkout".into(),
            target: 0.99,
            window: "30d".into(),
            total,
            good: total,
            error_budget_remaining: 1.0,
            burn_rates: BTreeMap::from([("1h".to_string(), 0.0)]),
            alerts: Some(Alerts::default()),
            ..Default::default()
        }
    }

    fn sent(changes: &[WatchResponse]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match &c.change {
                Some(watch_response::Change::Status(s)) => format!("{}={}", s.name, s.total),
                Some(watch_response::Change::Removed(name)) => format!("-{name}"),
                None => "?".into(),
            })
            .collect()
    }

    #[test]
    fn the_first_round_sends_everything_then_only_what_changed() {
        let mut detector = ChangeDetector::new(Vec::new());
        let changes = detector.changes(vec![status("a", 1.0), status("b", 2.0)]);
        assert_eq!(sent(&changes), ["a=1", "b=2"]);
        assert!(detector.changes(vec![status("a", 1.0), status("b", 2.0)]).is_empty());
        // Any field counts, not just the totals.
        let mut paging = status("b", 2.0);
        paging.alerts = Some(Alerts {
            page: true,
            ticket: false,
        });
        assert_eq!(
            sent(&detector.changes(vec![status("a", 3.0), paging.clone()])),
            ["a=3", "b=2"]
        );
        let mut burning = paging.clone();
        burning.burn_rates.insert("5m".into(), 14.5);
        assert_eq!(
            sent(&detector.changes(vec![status("a", 3.0), burning.clone()])),
            ["b=2"]
        );
        // A new objective, one gone (a reload), one back.
        assert_eq!(
            sent(&detector.changes(vec![burning.clone(), status("c", 1.0)])),
            ["c=1", "-a"]
        );
        assert_eq!(sent(&detector.changes(vec![status("a", 3.0), burning])), ["a=3", "-c"]);
    }

    #[test]
    fn only_watched_names_are_sent() {
        let mut detector = ChangeDetector::new(["b".to_string(), "later".to_string()]);
        assert_eq!(
            sent(&detector.changes(vec![status("a", 1.0), status("b", 2.0)])),
            ["b=2"]
        );
        assert!(detector.changes(vec![status("a", 5.0), status("b", 2.0)]).is_empty());
        assert_eq!(
            sent(&detector.changes(vec![status("b", 2.0), status("later", 1.0)])),
            ["later=1"],
            "a watched name is sent once it exists"
        );
        assert_eq!(sent(&detector.changes(vec![status("a", 1.0)])), ["-b", "-later"]);
    }

    #[test]
    fn the_interval_is_bounded() {
        assert_eq!(watch_interval(None), DEFAULT_WATCH_INTERVAL);
        assert_eq!(watch_interval(Some(0)), MIN_WATCH_INTERVAL);
        assert_eq!(watch_interval(Some(250)), Duration::from_millis(250));
        assert_eq!(watch_interval(Some(u32::MAX)), MAX_WATCH_INTERVAL);
    }

    /// Statuses the test sets.
    #[derive(Default)]
    struct Slos(Mutex<Vec<SloStatus>>);

    impl SloSource for Slos {
        fn statuses(&self) -> Vec<serde_json::Value> {
            Vec::new()
        }
        fn status(&self, _name: &str) -> Option<serde_json::Value> {
            None
        }
        fn slo_statuses(&self) -> Vec<SloStatus> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }
        fn slo_status(&self, name: &str) -> Option<SloStatus> {
            self.slo_statuses().into_iter().find(|s| s.name == name)
        }
    }

    async fn next_change(stream: &mut WatchStream) -> String {
        match stream.next().await {
            Some(Ok(change)) => sent(&[change]).remove(0),
            other => panic!("expected a change, got {other:?}"),
        }
    }

    /// The stream itself: the initial statuses at once, a change within an
    /// interval, and the end when the server stops.
    #[tokio::test(start_paused = true)]
    async fn a_watch_streams_changes_and_ends_at_stop() {
        let slos = Arc::new(Slos::default());
        *slos.0.lock().unwrap_or_else(|p| p.into_inner()) = vec![status("a", 1.0), status("b", 1.0)];
        let stop = CancellationToken::new();
        let service = SloGrpc {
            slos: slos.clone(),
            stop: stop.clone(),
        };
        let request = Request::new(WatchRequest {
            names: Vec::new(),
            min_interval_ms: Some(500),
        });
        let mut stream = service.watch(request).await.expect("a stream").into_inner();
        assert_eq!(next_change(&mut stream).await, "a=1");
        assert_eq!(next_change(&mut stream).await, "b=1");
        let start = tokio::time::Instant::now();
        *slos.0.lock().unwrap_or_else(|p| p.into_inner()) = vec![status("a", 1.0), status("b", 4.0)];
        assert_eq!(next_change(&mut stream).await, "b=4");
        assert_eq!(start.elapsed(), Duration::from_millis(500), "found at the next check");
        stop.cancel();
        assert!(stream.next().await.is_none(), "the stream ends when sloop stops");
    }

    #[tokio::test]
    async fn get_of_an_unknown_name_is_not_found() {
        let service = SloGrpc {
            slos: Arc::new(Slos::default()),
            stop: CancellationToken::new(),
        };
        let error = service
            .get(Request::new(GetRequest { name: "nope".into() }))
            .await
            .expect_err("no such SLO");
        assert_eq!(error.code(), tonic::Code::NotFound);
        assert!(error.message().contains("\"nope\""), "{error:?}");
    }
}
