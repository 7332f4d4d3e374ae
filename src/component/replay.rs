//! Where replayable sources stand, kept consistent with stateful processors'
//! checkpoints, so that a source that reads from something it can read again (the
//! `filelog` receiver and its files) resumes after a crash exactly where the state
//! built from it was last saved: nothing counted twice, nothing missed.
//!
//! The problem it solves: the `filelog` receiver keeps its file offsets in a
//! `file_storage` extension, and the `slo` processor keeps its counts in its own
//! `storage` database every `checkpoint_interval`. Saved separately, a `kill -9`
//! finds them at different moments: offsets ahead of the counts lose the lines in
//! between, offsets behind count them twice.
//!
//! How: a source hands each batch to the pipelines through [`Replay::hand_over`],
//! which holds a shared gate while the pipelines consume it and then records the
//! batch's [`Position`] (the source's whole read state after the batch, opaque to
//! everyone else, and a sequence number). A processor saving state takes the gate
//! exclusively for the moment of its snapshot ([`Replay::snapshot`]), so the
//! snapshot contains every batch handed over before it and none after, and the
//! positions it stores with it are exactly those batches'. After a restart the
//! processor gives its stored positions back ([`Replay::restore`]) when it starts
//! (processors start before receivers), and the source resumes from the oldest
//! position anyone holds ([`Replay::resume_point`]) compared with its own.
//!
//! A processor stores only the positions of the sources that fed it
//! ([`current_source`] tells it, during `consume`, which source is handing over),
//! so a source resumes from where the state built from it was saved, not from where
//! an unrelated processor's was.
//!
//! Within one process (a reload rebuilding the source), the new instance resumes
//! from where the old one stopped ([`Replay::consumed`]): the processors kept their
//! state in memory.
//!
//! Known limit: with several processors checkpointing the same source at different
//! moments, the source resumes from the oldest, and the others see again what came
//! after their own checkpoint.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// A source's read state after one batch: opaque bytes the source alone reads, and
/// a number that grows with every batch the source hands over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Grows by one per batch; says which of two positions is older.
    pub seq: u64,
    /// The source's own encoding of where it stands.
    pub state: Arc<[u8]>,
}

/// The service's replay positions; one per service, in [`super::ServiceHandles`].
#[derive(Debug, Default)]
pub struct Replay {
    gate: tokio::sync::RwLock<()>,
    /// Source id → position of the last batch the pipelines accepted.
    consumed: Mutex<BTreeMap<String, Position>>,
    /// Source id → holder (a processor's id) → position restored from its store.
    restored: Mutex<BTreeMap<String, BTreeMap<String, Position>>>,
}

impl Replay {
    /// Runs `consume` (handing one batch of `source` to the pipelines) inside the
    /// shared gate, and records `position` as the source's when it returns `Ok`.
    pub async fn hand_over<T, E>(
        &self,
        source: &str,
        position: Position,
        consume: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let _gate = self.gate.read().await;
        let result = SOURCE.scope(Arc::from(source), consume).await;
        if result.is_ok() {
            lock(&self.consumed).insert(source.to_string(), position);
        }
        result
    }

    /// Runs `take` (a processor's snapshot of its state) with no batch being handed
    /// over, and returns its result with every source's position at that moment.
    pub async fn snapshot<T>(&self, take: impl FnOnce() -> T) -> (T, BTreeMap<String, Position>) {
        let _gate = self.gate.write().await;
        let taken = take();
        (taken, lock(&self.consumed).clone())
    }

    /// The positions `holder` stored with its last snapshot, given back when it
    /// starts again. Replaces what `holder` gave before.
    pub fn restore(&self, holder: &str, positions: BTreeMap<String, Position>) {
        let mut restored = lock(&self.restored);
        for holders in restored.values_mut() {
            holders.remove(holder);
        }
        for (source, position) in positions {
            restored.entry(source).or_default().insert(holder.to_string(), position);
        }
    }

    /// The oldest position of `source` that a processor restored, if any: where
    /// the source must resume for every processor's state to see each batch once
    /// (for the oldest; see the known limit in the module docs).
    pub fn resume_point(&self, source: &str) -> Option<Position> {
        lock(&self.restored)
            .get(source)?
            .values()
            .min_by_key(|position| position.seq)
            .cloned()
    }

    /// Where `source` stands now (its last accepted batch), if it handed any over.
    pub fn consumed(&self, source: &str) -> Option<Position> {
        lock(&self.consumed).get(source).cloned()
    }
}

tokio::task_local! {
    static SOURCE: Arc<str>;
}

/// The source handing over the batch being consumed, when it came through
/// [`Replay::hand_over`]: what a processor saving state records positions of.
pub fn current_source() -> Option<Arc<str>> {
    SOURCE.try_with(Arc::clone).ok()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
