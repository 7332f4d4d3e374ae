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

#[derive(Clone)]
struct Entry {
    fingerprint: String,
    value: Shared,
    /// The build generation that last asked for it.
    generation: u64,
    /// The last claim's number: a newer claim of the same value takes it over.
    owner: u64,
}

/// State handed to one component instance by [`StateStore::claim`].
pub struct Claim<T> {
    /// The state.
    pub value: Arc<T>,
    /// Whether it was kept from an earlier instance (`false`: made fresh now).
    pub kept: bool,
    key: String,
    owner: u64,
}

impl<T> Claim<T> {
    /// Whether a newer instance has claimed this same state since (a reload kept
    /// it). The older instance must then leave it alone at shutdown — not flush
    /// it, not drop what it holds — because the newer one carries on with it.
    pub fn handed_over(&self, store: &StateStore) -> bool {
        let inner = store.lock();
        inner.entries.get(&self.key).is_some_and(|entry| {
            entry.owner != self.owner
                && std::ptr::eq(
                    Arc::as_ptr(&entry.value) as *const u8,
                    Arc::as_ptr(&self.value) as *const u8,
                )
        })
    }
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
    claims: u64,
    /// The entries as they were at [`StateStore::begin`], for
    /// [`StateStore::abort`].
    before: Option<BTreeMap<String, Entry>>,
}

impl StateStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts building a new graph: entries asked for from now on are kept by
    /// [`sweep`](Self::sweep).
    pub fn begin(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.before = Some(inner.entries.clone());
    }

    /// The new graph could not be built: puts every entry back as it was at
    /// [`begin`](Self::begin), so the running graph's instances still own their state.
    pub fn abort(&self) {
        let mut inner = self.lock();
        if let Some(before) = inner.before.take() {
            inner.entries = before;
        }
    }

    /// The state under `key` if it was made for the same `fingerprint`; otherwise
    /// `init()`'s, which is kept under `key` from now on (replacing the old entry).
    pub fn claim<T: Any + Send + Sync>(&self, key: &str, fingerprint: &str, init: impl FnOnce() -> T) -> Claim<T> {
        match self.try_claim(key, fingerprint, || Ok::<T, std::convert::Infallible>(init())) {
            Ok(claim) => claim,
            Err(never) => match never {},
        }
    }

    /// As [`claim`](Self::claim), for state whose making can fail; on failure
    /// nothing changes.
    pub fn try_claim<T: Any + Send + Sync, E>(
        &self,
        key: &str,
        fingerprint: &str,
        init: impl FnOnce() -> Result<T, E>,
    ) -> Result<Claim<T>, E> {
        let mut inner = self.lock();
        inner.claims += 1;
        let (generation, owner) = (inner.generation, inner.claims);
        if let Some(entry) = inner.entries.get_mut(key) {
            if entry.fingerprint == fingerprint {
                if let Ok(value) = entry.value.clone().downcast::<T>() {
                    entry.generation = generation;
                    entry.owner = owner;
                    return Ok(Claim {
                        value,
                        kept: true,
                        key: key.to_string(),
                        owner,
                    });
                }
            }
        }
        // Not under the lock: making the state may take a while (an exporter
        // building its client); another claim of the same key meanwhile is a bug.
        drop(inner);
        let value = Arc::new(init()?);
        self.lock().entries.insert(
            key.to_string(),
            Entry {
                fingerprint: fingerprint.to_string(),
                value: value.clone(),
                generation,
                owner,
            },
        );
        Ok(Claim {
            value,
            kept: false,
            key: key.to_string(),
            owner,
        })
    }

    /// The state under `key`, whatever its fingerprint, if it has type `T`.
    pub fn get<T: Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        self.lock().entries.get(key)?.value.clone().downcast::<T>().ok()
    }

    /// Drops every entry not asked for since the last [`begin`](Self::begin), and
    /// returns their keys.
    pub fn sweep(&self) -> Vec<String> {
        let mut inner = self.lock();
        inner.before = None;
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
        let first = store.claim("slo/a", "v1", || Mutex::new(1));
        assert!(!first.kept);
        *first.value.lock().unwrap() = 7;
        assert!(!first.handed_over(&store));
        store.begin();
        let again = store.claim("slo/a", "v1", || Mutex::new(1));
        assert!(again.kept);
        assert_eq!(*again.value.lock().unwrap(), 7);
        assert!(first.handed_over(&store), "the newer instance carries on with it");
        assert!(!again.handed_over(&store));
        let changed = store.claim("slo/a", "v2", || Mutex::new(1));
        assert!(!changed.kept);
        assert_eq!(*changed.value.lock().unwrap(), 1);
        assert!(!again.handed_over(&store), "replaced, not handed over: flush it");
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
        // A build that fails puts everything back.
        store.begin();
        let replaced = store.claim("b", "changed", || 4u8);
        assert!(!replaced.kept);
        store.abort();
        assert_eq!(store.get::<u8>("b").as_deref(), Some(&2));
        assert!(store.get::<u8>("a").is_none());
        assert_eq!(store.get::<u8>("b").as_deref(), Some(&2));
    }
}
