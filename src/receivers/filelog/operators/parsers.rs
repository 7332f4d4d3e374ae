//! The parsers that turn one field into a map: `regex_parser`, `json_parser`,
//! `key_value_parser`, `csv_parser`. A parser reads `parse_from`, writes the map
//! at `parse_to` (merged into `attributes`/`resource`, replacing anything else),
//! then runs its embedded `timestamp:` and `severity:` blocks on the result.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use regex::{CaptureLocations, Regex};

use super::field::{map_value, Field};
use super::severity::SeverityParser;
use super::time::TimeParser;
use super::values::{expect_text, json_map, key_value, text};
use crate::receivers::filelog::entry::Entry;

/// A compiled parser with its shared keys.
#[derive(Debug)]
pub struct Parser {
    /// The field read.
    pub parse_from: Field,
    /// Where the map is written.
    pub parse_to: Field,
    /// How the text becomes a map.
    pub kind: ParserKind,
    /// The embedded `timestamp:` block.
    pub timestamp: Option<TimeParser>,
    /// The embedded `severity:` block.
    pub severity: Option<SeverityParser>,
}

/// The four ways of turning text into a map.
#[derive(Debug)]
pub enum ParserKind {
    /// `regex_parser`.
    Regex(RegexParser),
    /// `json_parser`.
    Json {
        /// Integral numbers become ints.
        parse_ints: bool,
    },
    /// `key_value_parser`.
    KeyValue(KeyValueParser),
    /// `csv_parser`.
    Csv(CsvParser),
}

impl Parser {
    /// Parses `entry` in place. On an error the entry may have been changed only
    /// by a successful earlier step (the map is written before the blocks run).
    pub fn apply(&mut self, entry: &mut Entry) -> Result<(), String> {
        let values = {
            let value = self
                .parse_from
                .get(entry)
                .ok_or_else(|| format!("entry has no field {}", self.parse_from))?;
            let text = expect_text(&value, "parsing")?;
            self.kind.parse(text)?
        };
        self.parse_to.set(entry, map_value(values))?;
        if let Some(timestamp) = &self.timestamp {
            timestamp.apply(entry)?;
        }
        if let Some(severity) = &self.severity {
            severity.apply(entry)?;
        }
        Ok(())
    }
}

impl ParserKind {
    fn parse(&mut self, line: &str) -> Result<Vec<KeyValue>, String> {
        match self {
            ParserKind::Regex(parser) => parser.parse(line),
            ParserKind::Json { parse_ints } => parse_json(line, *parse_ints),
            ParserKind::KeyValue(parser) => parser.parse(line),
            ParserKind::Csv(parser) => parser.parse(line),
        }
    }
}

/// A regular expression with its named groups resolved once, at build.
#[derive(Debug)]
pub struct RegexParser {
    regex: Regex,
    /// (name, group index), in the pattern's order.
    names: Vec<(String, usize)>,
    /// Reused between entries: matching allocates nothing but the values.
    locations: CaptureLocations,
}

impl RegexParser {
    /// Compiles `pattern`; it must have at least one named group.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let regex = Regex::new(pattern).map_err(|e| format!("invalid regex: {e}"))?;
        let names: Vec<(String, usize)> = regex
            .capture_names()
            .enumerate()
            .filter_map(|(index, name)| Some((name?.to_string(), index)))
            .collect();
        if names.is_empty() {
            return Err("the regex has no named groups, as (?P<name>...)".into());
        }
        let locations = regex.capture_locations();
        Ok(Self {
            regex,
            names,
            locations,
        })
    }

    /// Each named group's text (empty for a group that did not take part, as in Go).
    pub fn parse(&mut self, line: &str) -> Result<Vec<KeyValue>, String> {
        if self.regex.captures_read(&mut self.locations, line).is_none() {
            return Err("regex pattern does not match".into());
        }
        let mut values = Vec::with_capacity(self.names.len());
        for (name, index) in &self.names {
            let matched = self
                .locations
                .get(*index)
                .and_then(|(start, end)| line.get(start..end))
                .unwrap_or("");
            values.push(key_value(name.clone(), text(matched)));
        }
        Ok(values)
    }
}

fn parse_json(line: &str, parse_ints: bool) -> Result<Vec<KeyValue>, String> {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(map)) => Ok(json_map(map, parse_ints)),
        Ok(_) => Err("the JSON is not an object".into()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// `key=value` pairs; quotes (`"` or `'`) keep delimiters inside a key or value and
/// are removed.
#[derive(Debug)]
pub struct KeyValueParser {
    delimiter: String,
    /// `None`: any run of whitespace.
    pair_delimiter: Option<String>,
}

impl KeyValueParser {
    /// Checks the delimiters: non-empty and different.
    pub fn new(delimiter: String, pair_delimiter: Option<String>) -> Result<Self, (&'static str, String)> {
        if delimiter.is_empty() {
            return Err(("delimiter", "must not be empty".into()));
        }
        if let Some(pair) = &pair_delimiter {
            if pair.is_empty() {
                return Err(("pair_delimiter", "must not be empty".into()));
            }
            if *pair == delimiter {
                return Err(("pair_delimiter", "must differ from delimiter".into()));
            }
        } else if delimiter.trim().is_empty() {
            return Err((
                "delimiter",
                "must not be whitespace when pairs are split on whitespace".into(),
            ));
        }
        Ok(Self {
            delimiter,
            pair_delimiter,
        })
    }

    fn parse(&self, line: &str) -> Result<Vec<KeyValue>, String> {
        let mut values: Vec<KeyValue> = Vec::new();
        for pair in split_outside_quotes(line, self.pair_delimiter.as_deref()) {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let Some((key, value)) = split_once_outside_quotes(pair, &self.delimiter) else {
                return Err(format!(
                    "cannot split {pair:?} into a key and a value at {:?}",
                    self.delimiter
                ));
            };
            let key = unquote(key.trim());
            let value = text(unquote(value.trim()));
            match values.iter_mut().find(|kv| kv.key == key) {
                Some(existing) => existing.value = Some(value),
                None => values.push(key_value(key, value)),
            }
        }
        Ok(values)
    }
}

/// Splits at `delimiter` (any run of whitespace when `None`) where not inside quotes.
fn split_outside_quotes<'a>(line: &'a str, delimiter: Option<&str>) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut chars = line.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None => match delimiter {
                None if c.is_whitespace() => {
                    parts.push(&line[start..at]);
                    while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
                    start = chars.peek().map_or(line.len(), |(next, _)| *next);
                }
                Some(d) if line[at..].starts_with(d) => {
                    parts.push(&line[start..at]);
                    // Skip the rest of a multi-character delimiter.
                    let end = at + d.len();
                    while chars.next_if(|(i, _)| *i < end).is_some() {}
                    start = end;
                }
                _ => {}
            },
        }
    }
    parts.push(&line[start.min(line.len())..]);
    parts
}

fn split_once_outside_quotes<'a>(pair: &'a str, delimiter: &str) -> Option<(&'a str, &'a str)> {
    let mut quote: Option<char> = None;
    for (at, c) in pair.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if pair[at..].starts_with(delimiter) => {
                return Some((&pair[..at], &pair[at + delimiter.len()..]));
            }
            None => {}
        }
    }
    None
}

fn unquote(text: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
            return inner;
        }
    }
    text
}

/// One CSV record against a fixed header, with Go's `encoding/csv` rules for quotes.
#[derive(Debug)]
pub struct CsvParser {
    header: Vec<String>,
    delimiter: char,
    lazy_quotes: bool,
    ignore_quotes: bool,
}

impl CsvParser {
    /// Checks the keys; errors name the key at fault.
    pub fn new(
        header: &str,
        header_delimiter: Option<&str>,
        delimiter: &str,
        lazy_quotes: bool,
        ignore_quotes: bool,
    ) -> Result<Self, (&'static str, String)> {
        let mut chars = delimiter.chars();
        let (Some(delim), None) = (chars.next(), chars.next()) else {
            return Err(("delimiter", format!("must be one character, not {delimiter:?}")));
        };
        if delim == '"' || delim == '\r' || delim == '\n' {
            return Err(("delimiter", format!("{delimiter:?} cannot be a delimiter")));
        }
        if lazy_quotes && ignore_quotes {
            return Err(("ignore_quotes", "cannot be used with lazy_quotes".into()));
        }
        let header_delimiter = header_delimiter.unwrap_or(delimiter);
        if header_delimiter.is_empty() {
            return Err(("header_delimiter", "must not be empty".into()));
        }
        if header.is_empty() {
            return Err(("header", "must not be empty".into()));
        }
        Ok(Self {
            header: header.split(header_delimiter).map(str::to_string).collect(),
            delimiter: delim,
            lazy_quotes,
            ignore_quotes,
        })
    }

    fn parse(&self, line: &str) -> Result<Vec<KeyValue>, String> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let fields = if self.ignore_quotes {
            line.split(self.delimiter).map(str::to_string).collect()
        } else {
            split_csv(line, self.delimiter, self.lazy_quotes)?
        };
        if fields.len() != self.header.len() {
            return Err(format!(
                "wrong number of fields: expected {}, found {}",
                self.header.len(),
                fields.len()
            ));
        }
        Ok(self
            .header
            .iter()
            .zip(fields)
            .map(|(name, value)| key_value(name.clone(), text(value)))
            .collect())
    }
}

/// Splits one CSV record: a field that starts with `"` is quoted, `""` inside it
/// is a quote. Without `lazy`, a quote elsewhere is an error, as in Go.
fn split_csv(line: &str, delimiter: char, lazy: bool) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            // Quoted field.
            loop {
                match chars.next() {
                    None if lazy => break,
                    None => return Err("extraneous or missing \" in quoted field".into()),
                    Some('"') => match chars.peek() {
                        Some('"') => {
                            chars.next();
                            field.push('"');
                        }
                        None => break,
                        Some(c) if *c == delimiter => break,
                        Some(_) if lazy => field.push('"'),
                        Some(_) => return Err("extraneous or missing \" in quoted field".into()),
                    },
                    Some(c) => field.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != delimiter) {
                if c == '"' && !lazy {
                    return Err("bare \" in non-quoted field".into());
                }
                field.push(c);
            }
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}
