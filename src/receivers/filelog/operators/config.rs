//! The `operators:` list as written: one strict struct per operator type (unknown
//! keys are refused and named), the keys every operator shares, and the embedded
//! `timestamp:` and `severity:` blocks of the parsers. Nothing here is compiled;
//! [`super::Operators::build`] turns these into the running chain.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::field::Field;

/// One item of `operators:`, chosen by its `type`. (Deserialized by hand, below,
/// so that an unknown key is named in the error: serde's internally tagged enums
/// lose the key's name on the way to figment's error.)
#[derive(Debug, Clone)]
pub enum OperatorConfig {
    /// Named groups of a regular expression.
    RegexParser(RegexParserConfig),
    /// A JSON object.
    JsonParser(JsonParserConfig),
    /// `key=value` pairs.
    KeyValueParser(KeyValueParserConfig),
    /// One CSV record with a fixed header.
    CsvParser(CsvParserConfig),
    /// A timestamp into the record's time.
    TimeParser(TimeParserConfig),
    /// A severity into the record's severity number and text.
    SeverityParser(SeverityParserConfig),
    /// Moves a field.
    Move(MoveConfig),
    /// Copies a field.
    Copy(CopyConfig),
    /// Sets a field to a value or an expression's result.
    Add(AddConfig),
    /// Removes a field.
    Remove(RemoveConfig),
    /// Lifts a map's keys one level up.
    Flatten(FlattenConfig),
    /// Drops entries an expression matches.
    Filter(FilterConfig),
    /// Sends entries to the first route whose expression matches.
    Router(RouterConfig),
    /// Joins consecutive entries (multi-line records).
    Recombine(RecombineConfig),
    /// Passes entries on unchanged.
    Noop(NoopConfig),
}

/// What an operator does with an entry it fails on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Send the entry on unchanged, and log the error (rate-limited).
    #[default]
    Send,
    /// Send the entry on unchanged without logging.
    SendQuiet,
    /// Drop the entry, and log the error (rate-limited).
    Drop,
    /// Drop the entry without logging.
    DropQuiet,
}

/// `output:` — one operator id or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Outputs {
    /// `output: id`
    One(String),
    /// `output: [a, b]` (each gets a copy).
    Many(Vec<String>),
}

impl Outputs {
    /// The ids, in order.
    pub fn ids(&self) -> &[String] {
        match self {
            Outputs::One(id) => std::slice::from_ref(id),
            Outputs::Many(ids) => ids,
        }
    }
}

/// Declares an operator's config struct with the keys every operator has (`id`,
/// `output`, `if`, `on_error`) followed by its own. `flatten` would say it once,
/// but serde cannot combine it with `deny_unknown_fields`.
macro_rules! operator_config {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Unique id (default: the type, numbered when repeated).
            #[serde(default)]
            pub id: Option<String>,
            /// Where entries go next (default: the next operator in the list).
            #[serde(default)]
            pub output: Option<Outputs>,
            /// An expression; the operator applies only to entries it matches.
            #[serde(default, rename = "if")]
            pub if_expr: Option<String>,
            /// What to do with an entry the operator fails on.
            #[serde(default)]
            pub on_error: OnError,
            $($(#[$fmeta])* pub $field: $ty,)*
        }
    };
}

/// Same as [`operator_config`] plus the parser keys: `parse_from`, `parse_to` and
/// the embedded `timestamp:` and `severity:` blocks.
macro_rules! parser_config {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        operator_config! {
            $(#[$meta])*
            $name {
                /// The field to parse (default `body`).
                #[serde(default = "Field::body")]
                parse_from: Field,
                /// Where the parsed map goes (default `attributes`).
                #[serde(default = "Field::attributes")]
                parse_to: Field,
                /// A timestamp to parse after parsing.
                #[serde(default)]
                timestamp: Option<TimeConfig>,
                /// A severity to parse after parsing.
                #[serde(default)]
                severity: Option<SeverityConfig>,
                $($(#[$fmeta])* $field: $ty,)*
            }
        }
    };
}

parser_config! {
    /// `regex_parser`.
    RegexParserConfig {
        /// The regular expression; its named groups become the keys.
        regex: String,
        /// stanza's match cache; accepted only when absent.
        #[serde(default)]
        cache: Option<serde_json::Value>,
    }
}

parser_config! {
    /// `json_parser`.
    JsonParserConfig {
        /// Numbers without a fraction become ints (default: all are doubles, as in
        /// the Collector).
        #[serde(default)]
        parse_ints: bool,
    }
}

parser_config! {
    /// `key_value_parser`.
    KeyValueParserConfig {
        /// Between a key and its value (default `=`).
        #[serde(default = "default_kv_delimiter")]
        delimiter: String,
        /// Between pairs (default: any run of whitespace).
        #[serde(default)]
        pair_delimiter: Option<String>,
    }
}

parser_config! {
    /// `csv_parser`.
    CsvParserConfig {
        /// The column names, joined by `header_delimiter`.
        header: String,
        /// Between the header's names (default: `delimiter`).
        #[serde(default)]
        header_delimiter: Option<String>,
        /// Between fields (default `,`); one character.
        #[serde(default = "default_csv_delimiter")]
        delimiter: String,
        /// Quotes may appear inside unquoted fields, and unescaped inside quoted ones.
        #[serde(default)]
        lazy_quotes: bool,
        /// Quotes are ordinary characters.
        #[serde(default)]
        ignore_quotes: bool,
    }
}

operator_config! {
    /// `time_parser`.
    TimeParserConfig {
        /// The field holding the timestamp (default `body`).
        #[serde(default = "Field::body")]
        parse_from: Field,
        /// `strptime` (default), `gotime` or `epoch`.
        #[serde(default)]
        layout_type: LayoutType,
        /// The layout, in the syntax of `layout_type`.
        layout: String,
        /// The zone of timestamps without an offset (`UTC`, `Local`, or `±HH:MM`).
        #[serde(default)]
        location: Option<String>,
    }
}

operator_config! {
    /// `severity_parser`.
    SeverityParserConfig {
        /// The field holding the severity (default `body`).
        #[serde(default = "Field::body")]
        parse_from: Field,
        /// `default` or `none`.
        #[serde(default)]
        preset: Option<String>,
        /// Levels (`error`, `warn2`, …) to values, lists, ranges or `2xx`.
        #[serde(default)]
        mapping: BTreeMap<String, MappingValues>,
        /// Set the text to the level's short name instead of the value read.
        #[serde(default)]
        overwrite_text: bool,
    }
}

operator_config! {
    /// `move`.
    MoveConfig {
        /// The field to move.
        from: Field,
        /// Where it goes.
        to: Field,
    }
}

operator_config! {
    /// `copy`.
    CopyConfig {
        /// The field to copy.
        from: Field,
        /// Where the copy goes.
        to: Field,
    }
}

operator_config! {
    /// `add`.
    AddConfig {
        /// The field to set.
        field: Field,
        /// The value: any YAML value, or `EXPR(…)` evaluated per entry.
        value: serde_json::Value,
    }
}

operator_config! {
    /// `remove`.
    RemoveConfig {
        /// The field to remove.
        field: Field,
    }
}

operator_config! {
    /// `flatten`.
    FlattenConfig {
        /// A map under `body` whose keys move up one level.
        field: Field,
    }
}

operator_config! {
    /// `filter`.
    FilterConfig {
        /// Entries this matches are dropped.
        expr: String,
        /// The share of matching entries dropped (default 1).
        #[serde(default = "default_drop_ratio")]
        drop_ratio: f64,
    }
}

operator_config! {
    /// `router`.
    RouterConfig {
        /// Tried in order; the first whose `expr` matches takes the entry.
        #[serde(default)]
        routes: Vec<RouteConfig>,
        /// Where entries no route takes go (default: they are dropped).
        #[serde(default)]
        default: Option<Outputs>,
    }
}

/// One route of a `router`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// When this route takes an entry.
    pub expr: String,
    /// Where the entry goes.
    pub output: Outputs,
    /// Attributes added to entries taking this route.
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

operator_config! {
    /// `recombine`.
    RecombineConfig {
        /// The field joined across entries.
        combine_field: Field,
        /// Matches the first entry of a record.
        #[serde(default)]
        is_first_entry: Option<String>,
        /// Matches the last entry of a record.
        #[serde(default)]
        is_last_entry: Option<String>,
        /// Put between the joined values (default "\n").
        #[serde(default = "default_combine_with")]
        combine_with: String,
        /// At most this many entries per record (default 1000).
        #[serde(default = "default_max_batch_size")]
        max_batch_size: usize,
        /// Entries joined before the first match (default 100; 0: no limit).
        #[serde(default = "default_max_unmatched_batch_size")]
        max_unmatched_batch_size: usize,
        /// Bytes of the joined field after which the record is sent (0: no limit).
        #[serde(default)]
        max_log_size: ByteSize,
        /// Which entry's other fields the record keeps: `newest` (default) or `oldest`.
        #[serde(default)]
        overwrite_with: OverwriteWith,
        /// A record waiting this long is sent as it is (default 5s).
        #[serde(default = "default_force_flush_period", deserialize_with = "crate::confmap::deserialize_duration")]
        force_flush_period: Duration,
        /// Entries with different values here are joined separately.
        #[serde(default = "default_source_identifier")]
        source_identifier: Field,
        /// At most this many sources are tracked (default 1000).
        #[serde(default = "default_max_sources")]
        max_sources: usize,
    }
}

operator_config! {
    /// `noop`.
    NoopConfig {}
}

/// `recombine.overwrite_with`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverwriteWith {
    /// The newest entry's fields.
    #[default]
    Newest,
    /// The oldest entry's fields.
    Oldest,
}

/// A byte count: a number or a string like `64KiB`, `1MB`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(text) => parse_byte_size(&text).map(ByteSize).map_err(serde::de::Error::custom),
        }
    }
}

/// `123`, `64KiB`, `64kb`, `1MiB`, `1 GB` (KB and KiB both 1024, as stanza's helper.ByteSize).
pub(crate) fn parse_byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a byte size (as 64KiB)"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "kib" => 1 << 10,
        "mb" | "mib" => 1 << 20,
        "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown byte size unit {other:?} in {text:?}")),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("byte size {text:?} is too large"))
}

/// `layout_type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutType {
    /// `%Y-%m-%d` directives.
    #[default]
    Strptime,
    /// Go's reference time, `2006-01-02`.
    Gotime,
    /// Seconds, milliseconds, … since 1970.
    Epoch,
}

/// The embedded `timestamp:` block of a parser.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeConfig {
    /// The field holding the timestamp.
    pub parse_from: Field,
    /// `strptime` (default), `gotime` or `epoch`.
    #[serde(default)]
    pub layout_type: LayoutType,
    /// The layout.
    pub layout: String,
    /// The zone of timestamps without an offset.
    #[serde(default)]
    pub location: Option<String>,
}

/// The embedded `severity:` block of a parser.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityConfig {
    /// The field holding the severity.
    pub parse_from: Field,
    /// `default` or `none`.
    #[serde(default)]
    pub preset: Option<String>,
    /// Levels to values.
    #[serde(default)]
    pub mapping: BTreeMap<String, MappingValues>,
    /// Set the text to the level's short name.
    #[serde(default)]
    pub overwrite_text: bool,
}

/// What one level of a severity `mapping` matches: one item or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MappingValues {
    /// One value.
    One(MappingItem),
    /// Several.
    Many(Vec<MappingItem>),
}

/// A value, a `{min, max}` range, or a `2xx`-style status class.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MappingItem {
    /// `min: 300, max: 399` (inclusive).
    Range {
        /// Lowest value.
        min: i64,
        /// Highest value.
        max: i64,
    },
    /// An integer value.
    Int(i64),
    /// A text value, or `2xx`..`5xx`.
    Text(String),
}

fn default_kv_delimiter() -> String {
    "=".into()
}
fn default_csv_delimiter() -> String {
    ",".into()
}
fn default_drop_ratio() -> f64 {
    1.0
}
fn default_combine_with() -> String {
    "\n".into()
}
fn default_max_batch_size() -> usize {
    1000
}
fn default_max_unmatched_batch_size() -> usize {
    100
}
fn default_force_flush_period() -> Duration {
    Duration::from_secs(5)
}
fn default_max_sources() -> usize {
    1000
}
fn default_source_identifier() -> Field {
    Field {
        root: super::field::Root::Attributes,
        keys: vec!["log.file.path".into()],
    }
}

/// Every `type`, for the error on an unknown one.
const TYPES: [&str; 15] = [
    "regex_parser",
    "json_parser",
    "key_value_parser",
    "csv_parser",
    "time_parser",
    "severity_parser",
    "move",
    "copy",
    "add",
    "remove",
    "flatten",
    "filter",
    "router",
    "recombine",
    "noop",
];

impl<'de> Deserialize<'de> for OperatorConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let kind = match map.remove("type") {
            Some(serde_json::Value::String(kind)) => kind,
            Some(_) => return Err(D::Error::custom("`type` must be a string")),
            None => return Err(D::Error::custom("missing required key `type`")),
        };
        let body = serde_json::Value::Object(map);
        fn read<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, serde_json::Error> {
            serde_json::from_value(body)
        }
        let config = match kind.as_str() {
            "regex_parser" => read(body).map(OperatorConfig::RegexParser),
            "json_parser" => read(body).map(OperatorConfig::JsonParser),
            "key_value_parser" => read(body).map(OperatorConfig::KeyValueParser),
            "csv_parser" => read(body).map(OperatorConfig::CsvParser),
            "time_parser" => read(body).map(OperatorConfig::TimeParser),
            "severity_parser" => read(body).map(OperatorConfig::SeverityParser),
            "move" => read(body).map(OperatorConfig::Move),
            "copy" => read(body).map(OperatorConfig::Copy),
            "add" => read(body).map(OperatorConfig::Add),
            "remove" => read(body).map(OperatorConfig::Remove),
            "flatten" => read(body).map(OperatorConfig::Flatten),
            "filter" => read(body).map(OperatorConfig::Filter),
            "router" => read(body).map(OperatorConfig::Router),
            "recombine" => read(body).map(OperatorConfig::Recombine),
            "noop" => read(body).map(OperatorConfig::Noop),
            other => {
                let hint = crate::confmap::did_you_mean(other, TYPES)
                    .map(|best| format!(", did you mean {best}?"))
                    .unwrap_or_else(|| format!(" (one of {})", TYPES.join(", ")));
                return Err(D::Error::custom(format!("unknown operator type {other:?}{hint}")));
            }
        };
        config.map_err(|e| D::Error::custom(format!("{kind}: {}", explain(&e.to_string()))))
    }
}

/// serde's "unknown field `regexp`, expected one of `id`, …" as "unknown key
/// `regexp`, did you mean `regex`?"; other messages as they are.
fn explain(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((name, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match crate::confmap::did_you_mean(name, candidates.iter().copied()) {
        Some(best) => format!("unknown key `{name}`, did you mean `{best}`?"),
        None => format!("unknown key `{name}` (known: {})", candidates.join(", ")),
    }
}

impl OperatorConfig {
    /// The `type` as written.
    pub fn type_name(&self) -> &'static str {
        match self {
            OperatorConfig::RegexParser(_) => "regex_parser",
            OperatorConfig::JsonParser(_) => "json_parser",
            OperatorConfig::KeyValueParser(_) => "key_value_parser",
            OperatorConfig::CsvParser(_) => "csv_parser",
            OperatorConfig::TimeParser(_) => "time_parser",
            OperatorConfig::SeverityParser(_) => "severity_parser",
            OperatorConfig::Move(_) => "move",
            OperatorConfig::Copy(_) => "copy",
            OperatorConfig::Add(_) => "add",
            OperatorConfig::Remove(_) => "remove",
            OperatorConfig::Flatten(_) => "flatten",
            OperatorConfig::Filter(_) => "filter",
            OperatorConfig::Router(_) => "router",
            OperatorConfig::Recombine(_) => "recombine",
            OperatorConfig::Noop(_) => "noop",
        }
    }

    /// The keys every operator has: (`id`, `output`, `if`, `on_error`).
    pub fn common(&self) -> (Option<&str>, Option<&Outputs>, Option<&str>, OnError) {
        macro_rules! common {
            ($c:expr) => {
                (
                    $c.id.as_deref(),
                    $c.output.as_ref(),
                    $c.if_expr.as_deref(),
                    $c.on_error,
                )
            };
        }
        match self {
            OperatorConfig::RegexParser(c) => common!(c),
            OperatorConfig::JsonParser(c) => common!(c),
            OperatorConfig::KeyValueParser(c) => common!(c),
            OperatorConfig::CsvParser(c) => common!(c),
            OperatorConfig::TimeParser(c) => common!(c),
            OperatorConfig::SeverityParser(c) => common!(c),
            OperatorConfig::Move(c) => common!(c),
            OperatorConfig::Copy(c) => common!(c),
            OperatorConfig::Add(c) => common!(c),
            OperatorConfig::Remove(c) => common!(c),
            OperatorConfig::Flatten(c) => common!(c),
            OperatorConfig::Filter(c) => common!(c),
            OperatorConfig::Router(c) => common!(c),
            OperatorConfig::Recombine(c) => common!(c),
            OperatorConfig::Noop(c) => common!(c),
        }
    }
}
