//! `severity_parser` and the parsers' `severity:` block: a value read from the
//! entry is looked up in a mapping of OpenTelemetry levels (`trace` .. `fatal4`,
//! numbers 1..24) to values, lists of values, `{min, max}` ranges and HTTP status
//! classes (`2xx`). Text is matched ignoring case. The record gets the level's
//! number and, as the Collector does, the value read as its severity text (or the
//! level's short name with `overwrite_text`). A value the mapping lacks leaves the
//! number unset (0) with the text still set; it is not an error.

use std::collections::{BTreeMap, HashMap};

use super::config::{MappingItem, MappingValues};
use super::field::Field;
use super::values::{scalar_text, type_name};
use crate::receivers::filelog::entry::Entry;

/// Level names and their OpenTelemetry severity numbers.
const LEVELS: [(&str, i32); 24] = [
    ("trace", 1),
    ("trace2", 2),
    ("trace3", 3),
    ("trace4", 4),
    ("debug", 5),
    ("debug2", 6),
    ("debug3", 7),
    ("debug4", 8),
    ("info", 9),
    ("info2", 10),
    ("info3", 11),
    ("info4", 12),
    ("warn", 13),
    ("warn2", 14),
    ("warn3", 15),
    ("warn4", 16),
    ("error", 17),
    ("error2", 18),
    ("error3", 19),
    ("error4", 20),
    ("fatal", 21),
    ("fatal2", 22),
    ("fatal3", 23),
    ("fatal4", 24),
];

/// A compiled severity mapping and where to read the value.
#[derive(Debug, Clone)]
pub struct SeverityParser {
    parse_from: Field,
    /// Lowercased text values to numbers.
    exact: HashMap<String, i32>,
    /// Inclusive integer ranges, tried in order after `exact`.
    ranges: Vec<(i64, i64, i32)>,
    overwrite_text: bool,
}

impl SeverityParser {
    /// Compiles `preset` (`default` or `none`) plus `mapping`. Errors carry the
    /// key at fault relative to the block (`mapping.eror`).
    pub fn new(
        parse_from: Field,
        preset: Option<&str>,
        mapping: &BTreeMap<String, MappingValues>,
        overwrite_text: bool,
    ) -> Result<Self, (String, String)> {
        let mut exact = HashMap::new();
        match preset.unwrap_or("default") {
            "default" => {
                for (name, number) in LEVELS {
                    exact.insert(name.to_string(), number);
                }
                // Common spellings of the same levels.
                exact.insert("warning".into(), 13);
                exact.insert("critical".into(), 21);
            }
            "none" => {}
            other => return Err(("preset".into(), format!("unknown preset {other:?} (default or none)"))),
        }
        let mut ranges = Vec::new();
        for (level, values) in mapping {
            let path = format!("mapping.{level}");
            let Some(number) = level_number(level) else {
                return Err((
                    path,
                    format!(
                        "unknown level {level:?} (trace, debug, info, warn, error, fatal, each also with 2, 3 or 4)"
                    ),
                ));
            };
            let items = match values {
                MappingValues::One(item) => std::slice::from_ref(item),
                MappingValues::Many(items) => items.as_slice(),
            };
            for item in items {
                match item {
                    MappingItem::Range { min, max } if min > max => {
                        return Err((path, format!("range min {min} is above max {max}")))
                    }
                    MappingItem::Range { min, max } => ranges.push((*min, *max, number)),
                    MappingItem::Int(value) => {
                        exact.insert(value.to_string(), number);
                    }
                    MappingItem::Text(text) => match status_class(text) {
                        Some(low) => ranges.push((low, low + 99, number)),
                        None => {
                            exact.insert(text.to_lowercase(), number);
                        }
                    },
                }
            }
        }
        Ok(Self {
            parse_from,
            exact,
            ranges,
            overwrite_text,
        })
    }

    /// Sets the record's severity number and text from the field.
    pub fn apply(&self, entry: &mut Entry) -> Result<(), String> {
        let value = self
            .parse_from
            .get(entry)
            .ok_or_else(|| format!("entry has no field {}", self.parse_from))?;
        let text = scalar_text(&value)
            .ok_or_else(|| format!("a severity needs a string or number, found a {}", type_name(&value)))?;
        let number = self.lookup(&text);
        let text = match (self.overwrite_text, number) {
            (true, Some(n)) => short_name(n).to_string(),
            _ => text.into_owned(),
        };
        entry.record.severity_number = number.unwrap_or(0);
        entry.record.severity_text = text;
        Ok(())
    }

    fn lookup(&self, text: &str) -> Option<i32> {
        if let Some(number) = self.exact.get(text).or_else(|| self.exact.get(&text.to_lowercase())) {
            return Some(*number);
        }
        let value: i64 = text.trim().parse().ok()?;
        self.ranges
            .iter()
            .find(|(min, max, _)| (*min..=*max).contains(&value))
            .map(|(_, _, number)| *number)
    }
}

fn level_number(level: &str) -> Option<i32> {
    LEVELS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(level))
        .map(|(_, number)| *number)
}

/// `2xx`..`5xx` (any case) as the class's lowest status.
fn status_class(text: &str) -> Option<i64> {
    match text.to_ascii_lowercase().as_str() {
        "1xx" => Some(100),
        "2xx" => Some(200),
        "3xx" => Some(300),
        "4xx" => Some(400),
        "5xx" => Some(500),
        _ => None,
    }
}

/// The data model's short name for a severity number (`ERROR`, `INFO3`).
fn short_name(number: i32) -> &'static str {
    const NAMES: [&str; 24] = [
        "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4", "INFO", "INFO2", "INFO3",
        "INFO4", "WARN", "WARN2", "WARN3", "WARN4", "ERROR", "ERROR2", "ERROR3", "ERROR4", "FATAL", "FATAL2", "FATAL3",
        "FATAL4",
    ];
    usize::try_from(number - 1)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNSPECIFIED")
}
