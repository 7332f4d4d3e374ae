//! `recombine`: joins consecutive entries of one source (a Java stack trace, a
//! CRI partial line) into one. Entries are grouped by `source_identifier` (the
//! file path by default); a batch is sent when the next record starts
//! (`is_first_entry`), when its last entry arrives (`is_last_entry`), when it holds
//! `max_batch_size` entries or `max_log_size` bytes, when `force_flush_period`
//! passes without a new entry, or at [`Recombine::flush_all`].

use std::time::{Duration, Instant};

use super::condition::Condition;
use super::config::OverwriteWith;
use super::field::Field;
use super::values::{scalar_text, text};
use crate::receivers::filelog::entry::Entry;

/// The key entries without a `source_identifier` share.
const DEFAULT_SOURCE: &str = "DefaultSourceIdentifier";

/// Which entries delimit a record.
#[derive(Debug)]
pub enum Boundary {
    /// Matches the first entry of a record.
    First(Condition),
    /// Matches the last entry of a record.
    Last(Condition),
}

/// The compiled operator and the batches it holds.
#[derive(Debug)]
pub struct Recombine {
    /// Where records begin or end.
    pub boundary: Boundary,
    /// The field joined.
    pub combine_field: Field,
    /// Put between joined values.
    pub combine_with: String,
    /// Entries per record at most.
    pub max_batch_size: usize,
    /// Entries joined before the first match (0: no limit).
    pub max_unmatched_batch_size: usize,
    /// Bytes of the joined field at which a record is sent (0: no limit).
    pub max_log_size: usize,
    /// Which entry's other fields the record keeps.
    pub overwrite_with: OverwriteWith,
    /// Idle time after which a batch is sent.
    pub force_flush_period: Duration,
    /// What separates sources.
    pub source_identifier: Field,
    /// Sources tracked at most.
    pub max_sources: usize,
    /// One slot per source, in order of arrival.
    pub sources: Vec<Source>,
}

/// A source's state.
#[derive(Debug)]
pub struct Source {
    key: String,
    batch: Option<Batch>,
    /// A boundary has been seen for this source (the unmatched limit no longer applies).
    seen_match: bool,
}

#[derive(Debug)]
struct Batch {
    /// The entry whose other fields the record keeps.
    base: Entry,
    /// The joined field so far.
    joined: String,
    count: usize,
    /// Began with an `is_first_entry` match.
    matched: bool,
    updated: Instant,
}

impl Recombine {
    /// Takes one entry; records completed by it are pushed to `out`.
    pub fn process(&mut self, entry: Entry, now: Instant, out: &mut Vec<Entry>) {
        let key = match self.source_identifier.get(&entry) {
            Some(value) => scalar_text(&value).map_or_else(|| DEFAULT_SOURCE.to_string(), |t| t.into_owned()),
            None => DEFAULT_SOURCE.to_string(),
        };
        let index = match self.sources.iter().position(|s| s.key == key) {
            Some(index) => index,
            None => {
                if self.sources.len() >= self.max_sources {
                    self.sources.retain(|s| s.batch.is_some());
                }
                if self.sources.len() >= self.max_sources {
                    // Too many sources at once: this one goes on uncombined.
                    out.push(entry);
                    return;
                }
                self.sources.push(Source {
                    key,
                    batch: None,
                    seen_match: false,
                });
                self.sources.len() - 1
            }
        };
        let Some(source) = self.sources.get_mut(index) else {
            out.push(entry);
            return;
        };
        match &self.boundary {
            Boundary::First(condition) => {
                let first = condition.matches(&entry);
                if first {
                    if let Some(batch) = source.batch.take() {
                        out.push(finish(&self.combine_field, batch));
                    }
                    source.seen_match = true;
                }
                let Some(source) = self.sources.get_mut(index) else {
                    return;
                };
                Self::add(
                    source,
                    entry,
                    first,
                    &self.combine_field,
                    &self.combine_with,
                    self.overwrite_with,
                    now,
                );
            }
            Boundary::Last(condition) => {
                let last = condition.matches(&entry);
                Self::add(
                    source,
                    entry,
                    false,
                    &self.combine_field,
                    &self.combine_with,
                    self.overwrite_with,
                    now,
                );
                if last {
                    source.seen_match = true;
                    if let Some(batch) = source.batch.take() {
                        out.push(finish(&self.combine_field, batch));
                    }
                    return;
                }
            }
        }
        self.flush_if_full(index, out);
    }

    fn add(
        source: &mut Source,
        entry: Entry,
        starts: bool,
        combine_field: &Field,
        combine_with: &str,
        overwrite_with: OverwriteWith,
        now: Instant,
    ) {
        let part = combine_field
            .get(&entry)
            .and_then(|value| scalar_text(&value).map(|t| t.into_owned()));
        match &mut source.batch {
            Some(batch) => {
                if let Some(part) = part {
                    batch.joined.push_str(combine_with);
                    batch.joined.push_str(&part);
                }
                batch.count += 1;
                batch.updated = now;
                if overwrite_with == OverwriteWith::Newest {
                    batch.base = entry;
                }
            }
            None => {
                source.batch = Some(Batch {
                    base: entry,
                    joined: part.unwrap_or_default(),
                    count: 1,
                    matched: starts,
                    updated: now,
                });
            }
        }
    }

    fn flush_if_full(&mut self, index: usize, out: &mut Vec<Entry>) {
        let Some(source) = self.sources.get_mut(index) else {
            return;
        };
        let Some(batch) = &source.batch else { return };
        let unmatched_full = !batch.matched
            && !source.seen_match
            && self.max_unmatched_batch_size > 0
            && batch.count >= self.max_unmatched_batch_size;
        let full = batch.count >= self.max_batch_size
            || (self.max_log_size > 0 && batch.joined.len() >= self.max_log_size)
            || unmatched_full;
        if full {
            if let Some(batch) = source.batch.take() {
                out.push(finish(&self.combine_field, batch));
            }
        }
    }

    /// Sends batches that have waited `force_flush_period` since their last entry.
    pub fn flush_stale(&mut self, now: Instant, out: &mut Vec<Entry>) {
        let period = self.force_flush_period;
        let mut done = Vec::new();
        for source in &mut self.sources {
            if source
                .batch
                .as_ref()
                .is_some_and(|b| now.saturating_duration_since(b.updated) >= period)
            {
                done.extend(source.batch.take());
            }
        }
        for batch in done {
            out.push(finish(&self.combine_field, batch));
        }
    }

    /// Sends every batch held.
    pub fn flush_all(&mut self, out: &mut Vec<Entry>) {
        let batches: Vec<Batch> = self.sources.iter_mut().filter_map(|s| s.batch.take()).collect();
        for batch in batches {
            out.push(finish(&self.combine_field, batch));
        }
    }

    /// Whether any batch is held.
    pub fn holds_entries(&self) -> bool {
        self.sources.iter().any(|s| s.batch.is_some())
    }
}

/// The batch as one entry: its base with the joined field.
fn finish(combine_field: &Field, batch: Batch) -> Entry {
    let mut entry = batch.base;
    // Setting a field cannot fail below a root; at the attributes or resource root
    // it can (a text is not a map), which `build` refuses for combine_field.
    let _ = combine_field.set(&mut entry, text(batch.joined));
    entry
}
