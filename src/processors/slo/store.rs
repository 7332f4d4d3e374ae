//! Durable SLO state in an embedded redb database under `storage`.
//!
//! Two tables: per series its cumulative counters and start time, and per
//! (series, minute) its good/bad counts. A checkpoint writes only the minutes changed
//! since the previous one (normally the last one or two) in one transaction, so a
//! crash — `kill -9` included — loses at most one `checkpoint_interval`.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::ring::Minute;

/// (objective, group) -> (cumulative good, cumulative bad, start unix nanos)
const SERIES: TableDefinition<(&str, &str), (f64, f64, u64)> = TableDefinition::new("slo_series");
/// (objective, group, minute) -> (good, bad)
const SLICES: TableDefinition<(&str, &str, i64), (f64, f64)> = TableDefinition::new("slo_slices");

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

/// What one checkpoint writes for one series.
#[derive(Debug, Clone)]
pub struct SeriesCheckpoint {
    /// Objective name.
    pub objective: String,
    /// Group key ("" for the objective as a whole).
    pub group: String,
    /// Counters and changed slices.
    pub series: StoredSeries,
    /// Slices older than this have left the window and are deleted.
    pub oldest: Minute,
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

    /// Every stored series of `objective`, by group key.
    pub fn load(&self, objective: &str) -> Result<BTreeMap<String, StoredSeries>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let series_table = txn.open_table(SERIES).map_err(|e| self.error(e))?;
        let slices_table = txn.open_table(SLICES).map_err(|e| self.error(e))?;
        let mut out = BTreeMap::new();
        for row in series_table.range((objective, "")..).map_err(|e| self.error(e))? {
            let (key, value) = row.map_err(|e| self.error(e))?;
            let (name, group) = key.value();
            if name != objective {
                break;
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
        Ok(out)
    }

    /// Writes a checkpoint in one transaction.
    pub fn save(&self, checkpoints: &[SeriesCheckpoint]) -> Result<(), StoreError> {
        if checkpoints.is_empty() {
            return Ok(());
        }
        self.write(|txn| {
            let mut series_table = txn.open_table(SERIES)?;
            let mut slices_table = txn.open_table(SLICES)?;
            for c in checkpoints {
                let (objective, group) = (c.objective.as_str(), c.group.as_str());
                let s = &c.series;
                series_table.insert(
                    (objective, group),
                    (s.cumulative_good, s.cumulative_bad, s.start_unix_nano),
                )?;
                for (minute, good, bad) in &s.slices {
                    slices_table.insert((objective, group, *minute), (*good, *bad))?;
                }
                slices_table.retain_in((objective, group, i64::MIN)..(objective, group, c.oldest), |_, _| false)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_and_expire_old_minutes() {
        let dir = std::env::temp_dir().join(format!("sloop-slo-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SloStore::open(&dir).unwrap();
        assert!(store.load("homepage").unwrap().is_empty());
        let checkpoint = |slices: Vec<(i64, f64, f64)>, oldest| SeriesCheckpoint {
            objective: "homepage".into(),
            group: String::new(),
            series: StoredSeries {
                cumulative_good: 10.0,
                cumulative_bad: 2.0,
                start_unix_nano: 42,
                slices,
            },
            oldest,
        };
        store
            .save(&[checkpoint(vec![(100, 5.0, 1.0), (101, 5.0, 1.0)], 0)])
            .unwrap();
        // A later checkpoint rewrites minute 101 and moves the window past 100.
        store
            .save(&[checkpoint(vec![(101, 6.0, 1.0), (102, 1.0, 0.0)], 101)])
            .unwrap();
        drop(store);
        let store = SloStore::open(&dir).unwrap();
        let loaded = store.load("homepage").unwrap();
        let series = &loaded[""];
        assert_eq!(series.slices, vec![(101, 6.0, 1.0), (102, 1.0, 0.0)]);
        assert_eq!(
            (series.cumulative_good, series.cumulative_bad, series.start_unix_nano),
            (10.0, 2.0, 42)
        );
        assert!(store.load("checkout").unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
