//! `time_parser` and the parsers' `timestamp:` block: strptime directives as stanza
//! documents them (its `%j` is an offset and `%s` nanoseconds, not C's), Go
//! reference layouts, and epoch numbers. Both text layouts compile to the same
//! list of [`Token`]s, read by one matcher; dates become Unix nanoseconds with the
//! civil-from-days arithmetic below, so no calendar crate is needed.
//!
//! Zones: an offset in the text wins; otherwise `location`, which may be `UTC`,
//! `Local` (taken as UTC: there is no zone database here) or a fixed `±HH:MM`.
//! Zone abbreviations (`%Z`, `MST`) known below map to their offsets; others to
//! UTC, as Go does for abbreviations its location does not know.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};

use super::config::LayoutType;
use super::field::Field;
use super::values::type_name;
use crate::receivers::filelog::entry::Entry;

/// A compiled timestamp parser: where to read, how, and the zone to assume.
#[derive(Debug, Clone)]
pub struct TimeParser {
    parse_from: Field,
    layout: Layout,
    /// Seconds east of UTC for timestamps without an offset.
    default_offset: i64,
}

#[derive(Debug, Clone)]
enum Layout {
    Text(Vec<Token>),
    Epoch(EpochUnit),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EpochUnit {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

/// One element of a text layout.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    Year4,
    Year2,
    /// Month as a number (any padding).
    Month,
    MonthAbbr,
    MonthFull,
    /// Day of month (any padding).
    Day,
    WeekdayAbbr,
    WeekdayFull,
    Hour24,
    Hour12,
    AmPm,
    Minute,
    Second,
    /// Fraction of a second: exactly this many digits, or any number when `None`.
    Fraction(Option<usize>),
    ZoneName,
    /// `Z`, `±HH`, `±HHMM`, `±HH:MM`, `±HH:MM:SS`.
    Offset,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Abbreviations with a fixed meaning in practice (North America, Europe, UTC).
const ZONES: [(&str, i64); 16] = [
    ("UTC", 0),
    ("GMT", 0),
    ("Z", 0),
    ("EST", -5),
    ("EDT", -4),
    ("CST", -6),
    ("CDT", -5),
    ("MST", -7),
    ("MDT", -6),
    ("PST", -8),
    ("PDT", -7),
    ("CET", 1),
    ("CEST", 2),
    ("EET", 2),
    ("EEST", 3),
    ("BST", 1),
];

impl TimeParser {
    /// Compiles a layout. Errors name the key at fault (`layout`, `location`).
    pub fn new(
        parse_from: Field,
        layout_type: LayoutType,
        layout: &str,
        location: Option<&str>,
    ) -> Result<Self, (&'static str, String)> {
        let layout = match layout_type {
            LayoutType::Strptime => Layout::Text(strptime_tokens(layout).map_err(|e| ("layout", e))?),
            LayoutType::Gotime => Layout::Text(gotime_tokens(layout)),
            LayoutType::Epoch => Layout::Epoch(match layout {
                "s" | "s.ms" | "s.us" | "s.ns" => EpochUnit::Seconds,
                "ms" => EpochUnit::Millis,
                "us" => EpochUnit::Micros,
                "ns" => EpochUnit::Nanos,
                other => {
                    return Err((
                        "layout",
                        format!("{other:?} is not an epoch layout (s, ms, us, ns, s.ms, s.us, s.ns)"),
                    ))
                }
            }),
        };
        if let Layout::Text(tokens) = &layout {
            if tokens.is_empty() {
                return Err(("layout", "must not be empty".into()));
            }
        }
        let default_offset = match location.map(str::trim) {
            None | Some("") | Some("UTC") | Some("Local") | Some("Etc/UTC") => 0,
            Some(text) => match parse_offset(text) {
                Some((offset, "")) => offset,
                _ => {
                    return Err((
                        "location",
                        format!("{text:?}: only UTC, Local (read as UTC) and fixed offsets as +05:30 are supported"),
                    ))
                }
            },
        };
        Ok(Self {
            parse_from,
            layout,
            default_offset,
        })
    }

    /// Sets the record's time from the field.
    pub fn apply(&self, entry: &mut Entry) -> Result<(), String> {
        let value = self
            .parse_from
            .get(entry)
            .ok_or_else(|| format!("entry has no field {}", self.parse_from))?;
        let nanos = self.parse(&value)?;
        entry.record.time_unix_nano = nanos;
        Ok(())
    }

    /// The value as Unix nanoseconds.
    fn parse(&self, value: &AnyValue) -> Result<u64, String> {
        match &self.layout {
            Layout::Epoch(unit) => parse_epoch(value, *unit),
            Layout::Text(tokens) => match value.value.as_ref() {
                Some(any_value::Value::StringValue(text)) => parse_text(tokens, text, self.default_offset),
                _ => Err(format!(
                    "a timestamp layout needs a string, found a {}",
                    type_name(value)
                )),
            },
        }
    }
}

/// Translates stanza's strptime directives.
fn strptime_tokens(layout: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = layout.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            tokens.push(Token::Literal(c));
            continue;
        }
        let Some(directive) = chars.next() else {
            return Err("ends with a lone %".into());
        };
        let expanded: &[Token] = match directive {
            'Y' => &[Token::Year4],
            'y' => &[Token::Year2],
            'm' | 'o' | 'q' => &[Token::Month],
            'b' | 'h' => &[Token::MonthAbbr],
            'B' => &[Token::MonthFull],
            'd' | 'e' | 'g' => &[Token::Day],
            'a' => &[Token::WeekdayAbbr],
            'A' => &[Token::WeekdayFull],
            'H' => &[Token::Hour24],
            'I' | 'l' => &[Token::Hour12],
            'p' | 'P' => &[Token::AmPm],
            'M' => &[Token::Minute],
            'S' => &[Token::Second],
            'L' => &[Token::Fraction(Some(3))],
            'f' => &[Token::Fraction(Some(6))],
            's' => &[Token::Fraction(Some(9))],
            'Z' => &[Token::ZoneName],
            'z' | 'i' | 'j' | 'k' => &[Token::Offset],
            'n' => &[Token::Literal('\n')],
            't' => &[Token::Literal('\t')],
            '%' => &[Token::Literal('%')],
            'D' => {
                tokens.extend(strptime_tokens("%m/%d/%y")?);
                continue;
            }
            'F' => {
                tokens.extend(strptime_tokens("%Y-%m-%d")?);
                continue;
            }
            'T' => {
                tokens.extend(strptime_tokens("%H:%M:%S")?);
                continue;
            }
            'r' => {
                tokens.extend(strptime_tokens("%I:%M:%S %p")?);
                continue;
            }
            'c' => {
                tokens.extend(strptime_tokens("%a %b %d %H:%M:%S %Y")?);
                continue;
            }
            'R' => {
                tokens.extend(strptime_tokens("%H:%M")?);
                continue;
            }
            other => return Err(format!("unknown directive %{other}")),
        };
        tokens.extend_from_slice(expanded);
    }
    Ok(tokens)
}

/// Translates a Go reference layout (`Mon Jan 2 15:04:05 MST 2006`).
fn gotime_tokens(layout: &str) -> Vec<Token> {
    // Longest first where one is a prefix of another.
    const CHUNKS: [(&str, Token); 33] = [
        ("January", Token::MonthFull),
        ("Jan", Token::MonthAbbr),
        ("Monday", Token::WeekdayFull),
        ("Mon", Token::WeekdayAbbr),
        ("MST", Token::ZoneName),
        ("2006", Token::Year4),
        ("01", Token::Month),
        ("02", Token::Day),
        ("03", Token::Hour12),
        ("04", Token::Minute),
        ("05", Token::Second),
        ("06", Token::Year2),
        ("15", Token::Hour24),
        ("1", Token::Month),
        ("__2", Token::Day),
        ("_2", Token::Day),
        ("_1", Token::Month),
        ("2", Token::Day),
        ("3", Token::Hour12),
        ("4", Token::Minute),
        ("5", Token::Second),
        ("PM", Token::AmPm),
        ("pm", Token::AmPm),
        ("Z07:00:00", Token::Offset),
        ("-07:00:00", Token::Offset),
        ("Z070000", Token::Offset),
        ("-070000", Token::Offset),
        ("Z07:00", Token::Offset),
        ("-07:00", Token::Offset),
        ("Z0700", Token::Offset),
        ("-0700", Token::Offset),
        ("-07", Token::Offset),
        ("Z07", Token::Offset),
    ];
    let mut tokens = Vec::new();
    let mut rest = layout;
    'scan: while let Some(c) = rest.chars().next() {
        if let Some((token, len)) = go_fraction(rest) {
            // The separator stays a literal: `.000` is `.` then three digits.
            tokens.push(Token::Literal(c));
            tokens.push(token);
            rest = &rest[len..];
            continue;
        }
        for (chunk, token) in &CHUNKS {
            if let Some(after) = rest.strip_prefix(chunk) {
                tokens.push(token.clone());
                rest = after;
                continue 'scan;
            }
        }
        tokens.push(Token::Literal(c));
        rest = &rest[c.len_utf8()..];
    }
    tokens
}

/// `.000`/`,000` (that many digits) or `.999` (any number) not followed by a digit.
fn go_fraction(text: &str) -> Option<(Token, usize)> {
    let after = text.strip_prefix(['.', ','])?;
    let digit = after.chars().next().filter(|c| *c == '0' || *c == '9')?;
    let count = after.chars().take_while(|c| *c == digit).count();
    if after[count..].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let token = if digit == '0' {
        Token::Fraction(Some(count))
    } else {
        Token::Fraction(None)
    };
    Some((token, 1 + count))
}

/// The fields read from a timestamp.
#[derive(Debug, Default)]
struct Parts {
    year: Option<i64>,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
    pm: Option<bool>,
    offset: Option<i64>,
}

fn parse_text(tokens: &[Token], text: &str, default_offset: i64) -> Result<u64, String> {
    let mut parts = Parts {
        month: 1,
        day: 1,
        ..Parts::default()
    };
    let mut rest = text;
    for (index, token) in tokens.iter().enumerate() {
        rest = read_token(token, rest, &mut parts)
            .ok_or_else(|| format!("{text:?} does not match the layout at {:?}", truncate(rest, 16)))?;
        // Go accepts a fraction right after the seconds even when the layout has none.
        if *token == Token::Second
            && !matches!(
                tokens.get(index + 1),
                Some(Token::Fraction(_)) | Some(Token::Literal('.'))
            )
        {
            if let Some(after) = rest
                .strip_prefix('.')
                .filter(|a| a.starts_with(|c: char| c.is_ascii_digit()))
            {
                let digits = after.chars().take_while(char::is_ascii_digit).count();
                parts.nanos = fraction_nanos(&after[..digits]);
                rest = &after[digits..];
            }
        }
    }
    if !rest.is_empty() {
        return Err(format!(
            "{text:?} has extra text {:?} after the layout",
            truncate(rest, 16)
        ));
    }
    to_unix_nanos(&parts, default_offset).ok_or_else(|| format!("{text:?} is not a valid time"))
}

fn truncate(text: &str, max_chars: usize) -> &str {
    text.char_indices().nth(max_chars).map_or(text, |(at, _)| &text[..at])
}

/// Reads one token at the start of `text`; the rest, or `None` if it is not there.
fn read_token<'t>(token: &Token, text: &'t str, parts: &mut Parts) -> Option<&'t str> {
    match token {
        Token::Literal(c) => text.strip_prefix(*c),
        Token::Year4 => number(text, 4, 4).map(|(v, rest)| {
            parts.year = Some(v);
            rest
        }),
        Token::Year2 => number(text, 2, 2).map(|(v, rest)| {
            parts.year = Some(if v >= 69 { 1900 + v } else { 2000 + v });
            rest
        }),
        Token::Month => padded(text, 1, 12).map(|(v, rest)| {
            parts.month = v;
            rest
        }),
        Token::MonthAbbr => name(text, &MONTHS, 3).map(|(i, rest)| {
            parts.month = i + 1;
            rest
        }),
        Token::MonthFull => name(text, &MONTHS, 0).map(|(i, rest)| {
            parts.month = i + 1;
            rest
        }),
        Token::Day => padded(text, 1, 31).map(|(v, rest)| {
            parts.day = v;
            rest
        }),
        Token::WeekdayAbbr => name(text, &WEEKDAYS, 3).map(|(_, rest)| rest),
        Token::WeekdayFull => name(text, &WEEKDAYS, 0).map(|(_, rest)| rest),
        Token::Hour24 => ranged(text, 0, 24).map(|(v, rest)| {
            parts.hour = v;
            rest
        }),
        Token::Hour12 => padded(text, 0, 12).map(|(v, rest)| {
            parts.hour = v;
            rest
        }),
        Token::AmPm => {
            let head = text.get(..2)?;
            parts.pm = match head.to_ascii_lowercase().as_str() {
                "am" => Some(false),
                "pm" => Some(true),
                _ => return None,
            };
            text.get(2..)
        }
        Token::Minute => ranged(text, 0, 59).map(|(v, rest)| {
            parts.minute = v;
            rest
        }),
        Token::Second => ranged(text, 0, 60).map(|(v, rest)| {
            parts.second = v;
            rest
        }),
        Token::Fraction(width) => {
            let digits = text.chars().take_while(char::is_ascii_digit).count();
            let take = match width {
                Some(w) if digits < *w => return None,
                Some(w) => *w,
                None => digits,
            };
            parts.nanos = fraction_nanos(&text[..take]);
            Some(&text[take..])
        }
        Token::ZoneName => {
            let len = text.chars().take_while(|c| c.is_ascii_alphabetic()).count();
            if len == 0 {
                return None;
            }
            let zone = &text[..len];
            let hours = ZONES.iter().find(|(abbr, _)| *abbr == zone).map_or(0, |(_, h)| *h);
            parts.offset = Some(hours * 3600);
            Some(&text[len..])
        }
        Token::Offset => {
            let (offset, rest) = parse_offset(text)?;
            parts.offset = Some(offset);
            Some(rest)
        }
    }
}

/// Between `min` and `max` digits as a number.
fn number(text: &str, min: usize, max: usize) -> Option<(i64, &str)> {
    let len = text.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if len < min {
        return None;
    }
    Some((text[..len].parse().ok()?, &text[len..]))
}

/// A one- or two-digit number, zero- or space-padded, within `low..=high`.
fn padded(text: &str, low: i64, high: i64) -> Option<(i64, &str)> {
    let text = text.strip_prefix(' ').unwrap_or(text);
    ranged(text, low, high)
}

fn ranged(text: &str, low: i64, high: i64) -> Option<(i64, &str)> {
    let (value, rest) = number(text, 1, 2)?;
    (low..=high).contains(&value).then_some((value, rest))
}

/// A month or weekday name: its first `len` letters (the whole name when 0),
/// matched ignoring case. Returns its index.
fn name<'t>(text: &'t str, names: &[&str], len: usize) -> Option<(i64, &'t str)> {
    names.iter().enumerate().find_map(|(index, full)| {
        let want = if len == 0 { full.len() } else { len };
        let head = text.get(..want)?;
        head.eq_ignore_ascii_case(full.get(..want)?)
            .then(|| (index as i64, &text[want..]))
    })
}

/// Digits after the decimal point as nanoseconds (digits past the ninth dropped).
fn fraction_nanos(digits: &str) -> i64 {
    let mut nanos = 0i64;
    for (position, digit) in digits.bytes().take(9).enumerate() {
        nanos += i64::from(digit - b'0') * 10i64.pow(8 - position as u32);
    }
    nanos
}

/// `Z`, `±HH`, `±HHMM`, `±HH:MM`, `±HHMMSS`, `±HH:MM:SS` as seconds east of UTC.
fn parse_offset(text: &str) -> Option<(i64, &str)> {
    if let Some(rest) = text.strip_prefix('Z') {
        return Some((0, rest));
    }
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, mut rest) = number(&text[1..], 2, 2)?;
    let mut seconds = hours * 3600;
    for scale in [60, 1] {
        let after = rest.strip_prefix(':').unwrap_or(rest);
        match number(after, 2, 2) {
            Some((value, tail)) if value < 60 => {
                seconds += value * scale;
                rest = tail;
            }
            _ => break,
        }
    }
    Some((sign * seconds, rest))
}

fn to_unix_nanos(parts: &Parts, default_offset: i64) -> Option<u64> {
    let year = match parts.year {
        Some(year) => year,
        // A layout without a year (syslog's `Jan 2 15:04:05`) means this year.
        None => current_year(),
    };
    let mut hour = parts.hour;
    match parts.pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    if parts.day > days_in_month(year, parts.month) {
        return None;
    }
    let days = days_from_civil(year, parts.month, parts.day);
    let offset = parts.offset.unwrap_or(default_offset);
    let seconds = days * 86_400 + hour * 3600 + parts.minute * 60 + parts.second - offset;
    let nanos = i128::from(seconds) * 1_000_000_000 + i128::from(parts.nanos);
    u64::try_from(nanos).ok()
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn current_year() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // Inverse of days_from_civil, year only.
    let z = seconds.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

/// An epoch number (int, double, or text) as Unix nanoseconds.
fn parse_epoch(value: &AnyValue, unit: EpochUnit) -> Result<u64, String> {
    let per_unit: i128 = match unit {
        EpochUnit::Seconds => 1_000_000_000,
        EpochUnit::Millis => 1_000_000,
        EpochUnit::Micros => 1_000,
        EpochUnit::Nanos => 1,
    };
    let nanos: i128 = match value.value.as_ref() {
        Some(any_value::Value::IntValue(i)) => i128::from(*i) * per_unit,
        Some(any_value::Value::DoubleValue(d)) if d.is_finite() && d.abs() < 1e18 => {
            // Whole and fractional parts apart: a JSON integer read as a double
            // (json_parser's default) must not pick up float noise when scaled.
            let whole = d.trunc();
            i128::from(whole as i64) * per_unit + ((d - whole) * per_unit as f64).round() as i128
        }
        Some(any_value::Value::StringValue(text)) => {
            let text = text.trim();
            let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
            let whole: i64 = whole
                .parse()
                .map_err(|_| format!("{text:?} is not an epoch timestamp"))?;
            if !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{text:?} is not an epoch timestamp"));
            }
            // The fraction is of the unit: nanoseconds of a second, scaled down.
            let fraction = i128::from(fraction_nanos(fraction)) * per_unit / 1_000_000_000;
            i128::from(whole) * per_unit + fraction
        }
        _ => {
            return Err(format!(
                "an epoch timestamp needs a number or string, found a {}",
                type_name(value)
            ))
        }
    };
    u64::try_from(nanos).map_err(|_| "the epoch timestamp is before 1970 or too large".to_string())
}
