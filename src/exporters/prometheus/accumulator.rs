//! The series a scrape page shows: the latest point of each, delta points added up
//! into cumulative ones, series without updates for `metric_expiration` forgotten.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::translate::{Labels, Series, Value};

/// The latest point of every series, by family name and labels.
#[derive(Debug)]
pub struct Accumulator {
    expiration: Duration,
    series: Mutex<HashMap<(String, Labels), Entry>>,
}

#[derive(Debug)]
struct Entry {
    series: Series,
    /// When a point for it last arrived.
    updated: Instant,
}

impl Accumulator {
    /// Forgets series after `expiration` without updates.
    pub fn new(expiration: Duration) -> Self {
        Self {
            expiration,
            series: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a point in, as the Collector's accumulator does:
    /// - cumulative points and gauges replace the stored one, unless older than it;
    /// - a delta point is added to the stored one when it starts where that one
    ///   ended, and starts the series afresh otherwise (a restarted producer);
    /// - a point of another type than the stored one replaces it.
    pub fn add(&self, series: Series, now: Instant) {
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let key = (series.name.clone(), series.labels.clone());
        let Some(entry) = map.get_mut(&key) else {
            map.insert(key, Entry { series, updated: now });
            return;
        };
        let stored = &mut entry.series;
        if stored.kind != series.kind {
            *stored = series;
        } else if series.delta {
            if series.start_ms != stored.time_ms || !add_delta(&mut stored.value, &series.value) {
                stored.value = series.value;
            }
            stored.start_ms = series.start_ms.min(stored.start_ms);
            stored.time_ms = series.time_ms;
            if !series.exemplars.is_empty() {
                stored.exemplars = series.exemplars;
            }
        } else if series.time_ms >= stored.time_ms {
            *stored = series;
        } else {
            return;
        }
        entry.updated = now;
    }

    /// Every live series, sorted by name and labels; expired ones are removed.
    pub fn snapshot(&self, now: Instant) -> Vec<Series> {
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, entry| now.saturating_duration_since(entry.updated) < self.expiration);
        let mut series: Vec<Series> = map.values().map(|entry| entry.series.clone()).collect();
        drop(map);
        series.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        series
    }
}

/// Adds a delta to a stored value; false when they cannot be added (a histogram whose
/// bounds changed).
fn add_delta(stored: &mut Value, delta: &Value) -> bool {
    match (stored, delta) {
        (Value::Number(a), Value::Number(b)) => {
            *a += b;
            true
        }
        (Value::Histogram(a), Value::Histogram(b)) if a.bounds == b.bounds && a.counts.len() == b.counts.len() => {
            a.count = a.count.saturating_add(b.count);
            a.sum += b.sum;
            for (total, more) in a.counts.iter_mut().zip(&b.counts) {
                *total = total.saturating_add(*more);
            }
            true
        }
        _ => false,
    }
}
