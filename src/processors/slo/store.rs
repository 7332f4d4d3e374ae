//! Durable SLO state in an embedded redb database under `storage`.
//!
//! Three tables: per objective the fingerprints of what its counts depend on
//! ([`ObjectiveConfig::counts_fingerprint`](super::ObjectiveConfig::counts_fingerprint)
//! and [`groups_fingerprint`](super::ObjectiveConfig::groups_fingerprint)),
//! per series its cumulative counters and start time, and per (series, minute) its
//! good/bad counts. A checkpoint writes only the minutes changed since the previous
//! one (normally the last one or two) in one transaction, so a crash — `kill -9`
//! included — loses at most one `checkpoint_interval`. A group whose slot was freed
//! (no event for the whole window) has its rows deleted in the next checkpoint, so
//! a restart does not bring it back.
//!
//! A fourth table holds the replay positions of the sources whose data the counts
//! include ([`crate::component::replay`]), so that a `filelog` receiver resumes
//! after a crash exactly where these counts were saved.
//!
//! redb opens a file once per process, and a reload builds the new processor while
//! the old one still runs, so the open database is not the processor's: it lives
//! in the service's state store as a [`StoreSlot`], keyed by its path, opened by the
//! first instance that starts and shared by every later one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::ring::Minute;
use crate::component::replay::Position;

/// (objective, group) -> (cumulative good, cumulative bad, start unix nanos)
const SERIES: TableDefinition<(&str, &str), (f64, f64, u64)> = TableDefinition::new("slo_series");
/// (objective, group, minute) -> (good, bad)
const SLICES: TableDefinition<(&str, &str, i64), (f64, f64)> = TableDefinition::new("slo_slices");
/// objective -> the (counts, groups) fingerprints of the config its rows were counted
/// under. A store written before this table existed has no row here; its counts are
/// taken as they are.
const OBJECTIVES: TableDefinition<&str, (&str, &str)> = TableDefinition::new("slo_objectives");
/// source -> (seq, state): where each replayable source that fed the counts stood
/// when they were taken ([`crate::component::replay`]), written in the same
/// transaction as the counts.
const POSITIONS: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("replay_positions");

/// The file inside the `storage` directory.
pub const FILE_NAME: &str = "slo.redb";

/// A failure reading or writing the store.
#[derive(Debug, thiserror::Error)]
#[error("slo state store {path}: {message}")]
pub struct StoreError {
    path: String,
    message: String,
}

/// A series as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredSeries {
    /// Cumulative good events.
    pub cumulative_good: f64,
    /// Cumulative bad events.
    pub cumulative_bad: f64,
    /// When counting began.
    pub start_unix_nano: u64,
    /// (minute, good, bad), oldest first.
    pub slices: Vec<(Minute, f64, f64)>,
}

/// What one checkpoint writes for one objective.
#[derive(Debug, Clone)]
pub struct ObjectiveCheckpoint {
    /// Objective name.
    pub objective: String,
    /// What its counts depend on.
    pub fingerprint: String,
    /// What its groups' counts depend on besides.
    pub groups_fingerprint: String,
    /// Delete every row held for the objective first (`series` is then complete).
    pub replace: bool,
    /// Groups (store keys) whose slots were freed: every row of theirs is deleted
    /// before `series` are written (a freed group counted again since is in both).
    pub freed: Vec<String>,
    /// Its changed series.
    pub series: Vec<SeriesCheckpoint>,
}

/// What one checkpoint writes for one series.
#[derive(Debug, Clone)]
pub struct SeriesCheckpoint {
    /// Group key ("" for the objective as a whole).
    pub group: String,
    /// Counters and changed slices.
    pub series: StoredSeries,
    /// Slices older than this have left the window and are deleted.
    pub oldest: Minute,
}

/// What the store holds for one objective.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every stored series still valid, by group key.
    pub series: BTreeMap<String, StoredSeries>,
    /// Some rows were counted under another fingerprint (another SLI or window:
    /// none is returned; another grouping: the groups are not) and the next
    /// checkpoint should replace them.
    pub stale: bool,
}

/// One `storage` directory's database, shared by every slo processor instance of
/// the service that names it (those of the running graph and, during a reload,
/// those of the graph being replaced).
pub struct StoreSlot {
    /// The directory.
    pub dir: PathBuf,
    opened: tokio::sync::OnceCell<Arc<SloStore>>,
    /// Held from taking a checkpoint to having written it, so checkpoints reach the
    /// file in the order they were taken, whichever instance took them.
    pub writes: tokio::sync::Mutex<()>,
    /// The replayable sources that fed an instance using this store since the
    /// process started, and the positions last written for them.
    pub replay: std::sync::Mutex<ReplaySeen>,
}

/// What a [`StoreSlot`] knows of replayable sources.
#[derive(Debug, Default)]
pub struct ReplaySeen {
    /// Sources that handed data to an instance using the store.
    pub sources: std::collections::BTreeSet<Arc<str>>,
    /// The positions of the last checkpoint written.
    pub written: BTreeMap<String, Position>,
}

impl StoreSlot {
    /// The state store key of the slot for `dir`.
    pub fn key(dir: &Path) -> String {
        format!("processors/slo/storage/{}", dir.display())
    }

    /// A slot for `dir`; opens nothing yet.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            opened: tokio::sync::OnceCell::new(),
            writes: tokio::sync::Mutex::new(()),
            replay: Default::default(),
        }
    }

    /// The open database, opening it on first use (off the async threads).
    pub async fn open(&self) -> Result<Arc<SloStore>, StoreError> {
        self.opened
            .get_or_try_init(|| async {
                let dir = self.dir.clone();
                let shown = dir.join(FILE_NAME).display().to_string();
                tokio::task::spawn_blocking(move || SloStore::open(&dir).map(Arc::new))
                    .await
                    .map_err(|e| StoreError {
                        path: shown,
                        message: e.to_string(),
                    })?
            })
            .await
            .cloned()
    }

    /// What the slot knows of replayable sources.
    pub fn seen(&self) -> std::sync::MutexGuard<'_, ReplaySeen> {
        self.replay.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The database if an instance has opened it.
    pub fn get(&self) -> Option<Arc<SloStore>> {
        self.opened.get().cloned()
    }
}

/// The open database.
pub struct SloStore {
    db: Database,
    path: String,
}

impl SloStore {
    /// Opens (or creates) `dir/slo.redb`, creating `dir` if needed.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        let shown = path.display().to_string();
        let error = |message: String| StoreError {
            path: shown.clone(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| error(format!("creating directory: {e}")))?;
        let db = Database::create(&path).map_err(|e| error(e.to_string()))?;
        let store = Self { db, path: shown };
        // Create the tables so reads of a fresh store find them.
        store.write(|txn| {
            txn.open_table(SERIES)?;
            txn.open_table(SLICES)?;
            txn.open_table(OBJECTIVES)?;
            txn.open_table(POSITIONS)?;
            Ok(())
        })?;
        Ok(store)
    }

    fn error(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn write(&self, f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        f(&txn).map_err(|e| self.error(e))?;
        txn.commit().map_err(|e| self.error(e))
    }

    /// Every stored series of `objective`, by group key, if they were counted under
    /// `fingerprint` (groups: and `groups_fingerprint`), or under none (a store from
    /// before fingerprints were kept).
    pub fn load(&self, objective: &str, fingerprint: &str, groups_fingerprint: &str) -> Result<Loaded, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let objectives_table = txn.open_table(OBJECTIVES).map_err(|e| self.error(e))?;
        let mut groups_valid = true;
        if let Some(stored) = objectives_table.get(objective).map_err(|e| self.error(e))? {
            let (counts, groups) = stored.value();
            if counts != fingerprint {
                return Ok(Loaded {
                    series: BTreeMap::new(),
                    stale: true,
                });
            }
            groups_valid = groups == groups_fingerprint;
        }
        let series_table = txn.open_table(SERIES).map_err(|e| self.error(e))?;
        let slices_table = txn.open_table(SLICES).map_err(|e| self.error(e))?;
        let mut out = BTreeMap::new();
        for row in series_table.range((objective, "")..).map_err(|e| self.error(e))? {
            let (key, value) = row.map_err(|e| self.error(e))?;
            let (name, group) = key.value();
            if name != objective {
                break;
            }
            if !groups_valid && !group.is_empty() {
                continue;
            }
            let (cumulative_good, cumulative_bad, start_unix_nano) = value.value();
            let mut series = StoredSeries {
                cumulative_good,
                cumulative_bad,
                start_unix_nano,
                slices: Vec::new(),
            };
            for slice in slices_table
                .range((objective, group, i64::MIN)..=(objective, group, i64::MAX))
                .map_err(|e| self.error(e))?
            {
                let (key, value) = slice.map_err(|e| self.error(e))?;
                let (good, bad) = value.value();
                series.slices.push((key.value().2, good, bad));
            }
            out.insert(group.to_owned(), series);
        }
        Ok(Loaded {
            series: out,
            stale: !groups_valid,
        })
    }

    /// The replay positions stored with the last checkpoint, by source.
    pub fn positions(&self) -> Result<BTreeMap<String, Position>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(POSITIONS).map_err(|e| self.error(e))?;
        let mut out = BTreeMap::new();
        for row in table.range::<&str>(..).map_err(|e| self.error(e))? {
            let (source, value) = row.map_err(|e| self.error(e))?;
            let (seq, state) = value.value();
            out.insert(
                source.value().to_owned(),
                Position {
                    seq,
                    state: Arc::from(state),
                },
            );
        }
        Ok(out)
    }

    /// Writes a checkpoint in one transaction; `positions`, when given, replace the
    /// stored replay positions in the same transaction.
    pub fn save(
        &self,
        checkpoints: &[ObjectiveCheckpoint],
        positions: Option<&BTreeMap<String, Position>>,
    ) -> Result<(), StoreError> {
        if checkpoints.is_empty() && positions.is_none() {
            return Ok(());
        }
        self.write(|txn| {
            if let Some(positions) = positions {
                let mut table = txn.open_table(POSITIONS)?;
                table.retain(|_, _| false)?;
                for (source, position) in positions {
                    table.insert(source.as_str(), (position.seq, &*position.state))?;
                }
            }
            let mut objectives_table = txn.open_table(OBJECTIVES)?;
            let mut series_table = txn.open_table(SERIES)?;
            let mut slices_table = txn.open_table(SLICES)?;
            for o in checkpoints {
                let objective = o.objective.as_str();
                if o.replace {
                    // Keys sort by objective first: its rows are the run from
                    // (objective, "") on whose name is still `objective`.
                    series_table.retain_in((objective, "").., |(name, _), _| name != objective)?;
                    slices_table.retain_in((objective, "", i64::MIN).., |(name, _, _), _| name != objective)?;
                }
                for group in &o.freed {
                    let group = group.as_str();
                    series_table.remove((objective, group))?;
                    slices_table.retain_in((objective, group, i64::MIN)..=(objective, group, i64::MAX), |_, _| {
                        false
                    })?;
                }
                objectives_table.insert(objective, (o.fingerprint.as_str(), o.groups_fingerprint.as_str()))?;
                for c in &o.series {
                    save_series(&mut series_table, &mut slices_table, objective, c)?;
                }
            }
            Ok(())
        })
    }
}

type SeriesTable<'txn> = redb::Table<'txn, (&'static str, &'static str), (f64, f64, u64)>;
type SlicesTable<'txn> = redb::Table<'txn, (&'static str, &'static str, i64), (f64, f64)>;

fn save_series(
    series_table: &mut SeriesTable<'_>,
    slices_table: &mut SlicesTable<'_>,
    objective: &str,
    c: &SeriesCheckpoint,
) -> Result<(), redb::Error> {
    let group = c.group.as_str();
    let s = &c.series;
    series_table.insert(
        (objective, group),
        (s.cumulative_good, s.cumulative_bad, s.start_unix_nano),
    )?;
    for (minute, good, bad) in &s.slices {
        slices_table.insert((objective, group, *minute), (*good, *bad))?;
    }
    slices_table.retain_in((objective, group, i64::MIN)..(objective, group, c.oldest), |_, _| false)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(group: &str, slices: Vec<(i64, f64, f64)>, oldest: Minute) -> SeriesCheckpoint {
        SeriesCheckpoint {
            group: group.into(),
            series: StoredSeries {
                cumulative_good: 10.0,
                cumulative_bad: 2.0,
                start_unix_nano: 42,
                slices,
            },
            oldest,
        }
    }

    fn objective(name: &str, fingerprint: &str, replace: bool, series: Vec<SeriesCheckpoint>) -> ObjectiveCheckpoint {
        ObjectiveCheckpoint {
            objective: name.into(),
            fingerprint: fingerprint.into(),
            groups_fingerprint: "g1".into(),
            replace,
            freed: Vec::new(),
            series,
        }
    }

    #[test]
    fn checkpoints_round_trip_and_expire_old_minutes() {
        let dir = std::env::temp_dir().join(format!("sloop-slo-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SloStore::open(&dir).unwrap();
        assert!(store.load("homepage", "v1", "g1").unwrap().series.is_empty());
        let checkpoint =
            |slices: Vec<(i64, f64, f64)>, oldest| objective("homepage", "v1", false, vec![series("", slices, oldest)]);
        store
            .save(&[checkpoint(vec![(100, 5.0, 1.0), (101, 5.0, 1.0)], 0)], None)
            .unwrap();
        // A later checkpoint rewrites minute 101 and moves the window past 100.
        store
            .save(&[checkpoint(vec![(101, 6.0, 1.0), (102, 1.0, 0.0)], 101)], None)
            .unwrap();
        drop(store);
        let store = SloStore::open(&dir).unwrap();
        let loaded = store.load("homepage", "v1", "g1").unwrap();
        assert!(!loaded.stale);
        let series = &loaded.series[""];
        assert_eq!(series.slices, vec![(101, 6.0, 1.0), (102, 1.0, 0.0)]);
        assert_eq!(
            (series.cumulative_good, series.cumulative_bad, series.start_unix_nano),
            (10.0, 2.0, 42)
        );
        assert!(store.load("checkout", "v1", "g1").unwrap().series.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn counts_of_another_fingerprint_are_not_loaded_and_a_replacing_checkpoint_drops_them() {
        let dir = std::env::temp_dir().join(format!("sloop-slo-store-fp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SloStore::open(&dir).unwrap();
        store
            .save(
                &[
                    objective(
                        "homepage",
                        "v1",
                        false,
                        vec![
                            series("", vec![(100, 5.0, 1.0)], 0),
                            series("g:gold", vec![(100, 1.0, 0.0)], 0),
                        ],
                    ),
                    // A name that sorts right after: a replace of "homepage" leaves it alone.
                    objective("homepage2", "v1", false, vec![series("", vec![(100, 3.0, 0.0)], 0)]),
                ],
                None,
            )
            .unwrap();
        let loaded = store.load("homepage", "v2", "g1").unwrap();
        assert!(loaded.stale && loaded.series.is_empty());
        assert_eq!(store.load("homepage", "v1", "g1").unwrap().series.len(), 2);
        let regrouped = store.load("homepage", "v1", "g2").unwrap();
        assert!(regrouped.stale);
        assert_eq!(
            regrouped.series.keys().collect::<Vec<_>>(),
            vec![""],
            "the overall series only"
        );

        store
            .save(
                &[objective(
                    "homepage",
                    "v2",
                    true,
                    vec![series("", vec![(101, 1.0, 0.0)], 0)],
                )],
                None,
            )
            .unwrap();
        assert!(store.load("homepage", "v1", "g1").unwrap().stale);
        let loaded = store.load("homepage", "v2", "g1").unwrap();
        assert_eq!(
            loaded.series.keys().collect::<Vec<_>>(),
            vec![""],
            "the old group is gone"
        );
        assert_eq!(
            loaded.series[""].slices,
            vec![(101, 1.0, 0.0)],
            "and so are its old minutes"
        );
        assert_eq!(
            store.load("homepage2", "v1", "g1").unwrap().series[""].slices,
            vec![(100, 3.0, 0.0)]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
