//! State that outlives the graph: kept by the service, keyed by component id, so a
//! reload that leaves a component's config alone hands the new instance the old
//! one's state (SLO rings, tail-sampling buffers, exporter queues with their backlog).
//!
//! Each entry carries a *fingerprint* of the config that made it. A component asks
//! for its state with the fingerprint of its current config: the same fingerprint
//! gets the kept state, a different one gets fresh state (the old entry is replaced).
//! After a reload has built the new graph, [`StateStore::sweep`] drops every entry the
//! new graph did not ask for.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Shared = Arc<dyn Any + Send + Sync>;

struct Entry {
    fingerprint: String,
    value: Shared,
    /// The build generation that last asked for it.
    generation: u64,
}

/// The service's state store. Cheap to share; every method takes `&self`.
#[derive(Default)]
pub struct StateStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<String, Entry>,
    generation: u64,
}

impl StateStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts building a new graph: entries asked for from now on are kept by
    /// [`sweep`](Self::sweep).
    pub fn begin(&self) {
        self.lock().generation += 1;
    }

    /// The state under `key` if it was made for the same `fingerprint`; otherwise
    /// `init()`'s, which is kept under `key` from now on. The second value tells
    /// whether the state was kept (`true`) or is fresh.
    pub fn claim<T: Any + Send + Sync>(
        &self,
        key: &str,
        fingerprint: &str,
        init: impl FnOnce() -> T,
    ) -> (Arc<T>, bool) {
        let mut inner = self.lock();
        let generation = inner.generation;
        if let Some(entry) = inner.entries.get_mut(key) {
            if entry.fingerprint == fingerprint {
                if let Ok(value) = entry.value.clone().downcast::<T>() {
                    entry.generation = generation;
                    return (value, true);
                }
            }
        }
        let value = Arc::new(init());
        inner.entries.insert(
            key.to_string(),
            Entry {
                fingerprint: fingerprint.to_string(),
                value: value.clone(),
                generation,
            },
        );
        (value, false)
    }

    /// The state under `key`, whatever its fingerprint, if it has type `T`.
    pub fn get<T: Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        self.lock().entries.get(key)?.value.clone().downcast::<T>().ok()
    }

    /// Drops every entry not asked for since the last [`begin`](Self::begin), and
    /// returns their keys.
    pub fn sweep(&self) -> Vec<String> {
        let mut inner = self.lock();
        let generation = inner.generation;
        let stale: Vec<String> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.generation < generation)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &stale {
            inner.entries.remove(key);
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_fingerprint_gets_the_kept_state_and_a_new_one_fresh_state() {
        let store = StateStore::default();
        store.begin();
        let (first, kept) = store.claim("slo/a", "v1", || Mutex::new(1));
        assert!(!kept);
        *first.lock().unwrap() = 7;
        store.begin();
        let (again, kept) = store.claim("slo/a", "v1", || Mutex::new(1));
        assert!(kept);
        assert_eq!(*again.lock().unwrap(), 7);
        let (changed, kept) = store.claim("slo/a", "v2", || Mutex::new(1));
        assert!(!kept);
        assert_eq!(*changed.lock().unwrap(), 1);
    }

    #[test]
    fn sweep_drops_what_the_new_graph_did_not_ask_for() {
        let store = StateStore::default();
        store.begin();
        store.claim("a", "", || 1u8);
        store.claim("b", "", || 2u8);
        store.begin();
        store.claim("b", "", || 3u8);
        assert_eq!(store.sweep(), vec!["a".to_string()]);
        assert!(store.get::<u8>("a").is_none());
        assert_eq!(store.get::<u8>("b").as_deref(), Some(&2));
    }
}
