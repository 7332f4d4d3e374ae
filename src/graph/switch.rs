//! What a receiver sends into: a pointer to the current pipelines' entry that a
//! reload swaps, so a receiver whose config did not change keeps its sockets and
//! its clients never see a refusal.
//!
//! Each request takes the current route and holds it until its data is handed
//! over; after a swap, the reload waits for the requests still inside the old
//! route before it shuts the old pipelines down, so nothing arrives at a stage
//! that has already stopped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::component::{BoxFuture, ConsumeError, Consumer, Refused};
use crate::pdata::{Encoded, Telemetry};

/// One generation of the graph's entry for a receiver and signal.
struct Route {
    entry: Arc<dyn Consumer>,
    in_flight: AtomicUsize,
}

/// A consumer that forwards to whatever route is current.
pub struct Switch {
    route: RwLock<Arc<Route>>,
}

/// Decrements a route's in-flight count when the request is done or dropped.
struct InFlight(Arc<Route>);

impl InFlight {
    fn enter(switch: &Switch) -> Self {
        let route = switch.route.read().unwrap_or_else(|p| p.into_inner()).clone();
        route.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(route)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Switch {
    /// A switch routing to `entry`.
    pub fn new(entry: Arc<dyn Consumer>) -> Arc<Self> {
        Arc::new(Self {
            route: RwLock::new(Arc::new(Route {
                entry,
                in_flight: AtomicUsize::new(0),
            })),
        })
    }

    /// Routes every new request to `entry`, and returns a wait for the requests
    /// still inside the old route.
    pub fn redirect(&self, entry: Arc<dyn Consumer>) -> Drained {
        let new = Arc::new(Route {
            entry,
            in_flight: AtomicUsize::new(0),
        });
        let old = std::mem::replace(&mut *self.route.write().unwrap_or_else(|p| p.into_inner()), new);
        Drained(old)
    }
}

/// The old route of a [`Switch::redirect`].
pub struct Drained(Arc<Route>);

impl Drained {
    /// Waits until no request is inside the old route, polling every millisecond,
    /// for at most `limit`. Returns whether it emptied.
    pub async fn wait(self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.0.in_flight.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }
}

impl Consumer for Switch {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        let guard = InFlight::enter(self);
        Box::pin(async move {
            let result = guard.0.entry.consume(data).await;
            drop(guard);
            result
        })
    }

    fn consume_or_return(&self, data: Telemetry) -> BoxFuture<'_, Result<(), Refused>> {
        let guard = InFlight::enter(self);
        Box::pin(async move {
            let result = guard.0.entry.consume_or_return(data).await;
            drop(guard);
            result
        })
    }

    fn consume_encoded(&self, data: Telemetry, encoded: Encoded) -> BoxFuture<'_, Result<(), ConsumeError>> {
        let guard = InFlight::enter(self);
        Box::pin(async move {
            let result = guard.0.entry.consume_encoded(data, encoded).await;
            drop(guard);
            result
        })
    }

    fn consume_encoded_or_return(&self, data: Telemetry, encoded: Encoded) -> BoxFuture<'_, Result<(), Refused>> {
        let guard = InFlight::enter(self);
        Box::pin(async move {
            let result = guard.0.entry.consume_encoded_or_return(data, encoded).await;
            drop(guard);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{traces, Recorder};

    #[tokio::test(start_paused = true)]
    async fn a_redirect_waits_for_the_requests_inside_the_old_route() {
        let old = Recorder::new();
        let switch = Switch::new(old.clone());
        // A request that took the old route before the swap and is still inside.
        let inside = InFlight::enter(&switch);
        let new = Recorder::new();
        let drained = switch.redirect(new.clone());
        switch.consume(traces(&[&["after"]])).await.unwrap();
        assert_eq!(new.batch_sizes(), [1], "new requests take the new route");
        assert!(old.batch_sizes().is_empty());
        let waiting = tokio::spawn(drained.wait(Duration::from_secs(5)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "one request is still inside the old route");
        drop(inside);
        assert!(waiting.await.unwrap());
    }
}
