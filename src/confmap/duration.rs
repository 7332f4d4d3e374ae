//! Durations in Go's syntax (`200ms`, `1.5s`, `1h30m`), as Collector configs write them,
//! plus `d` for days (SLO windows).
//!
//! Written by hand because humantime rejects fractions (`1.5s`) and the crates that
//! parse Go durations are unmaintained; the grammar is a dozen lines.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses `300ms`, `1.5s`, `1h30m`, `30d`. A bare `0` is zero.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!("invalid duration {text:?}: expected a number"));
        }
        let (number, after) = rest.split_at(number_len);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: bad number {number:?}"))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "" => return Err(format!("invalid duration {text:?}: missing unit (e.g. 5s, 200ms)")),
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?} (use ns, us, ms, s, m, h, d)"
                ))
            }
        };
        total += value * seconds;
        rest = after;
    }
    Duration::try_from_secs_f64(total).map_err(|_| format!("invalid duration {text:?}: out of range"))
}

/// Formats a duration the way it is written in config (`5s`, `200ms`).
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    for (unit, size) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if nanos >= size && nanos.is_multiple_of(size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

/// `#[serde(deserialize_with = "duration::deserialize")]` for `Duration` fields.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Seconds(u64),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Text(text) => parse(&text).map_err(serde::de::Error::custom),
        Raw::Seconds(0) => Ok(Duration::ZERO),
        Raw::Seconds(n) => Err(serde::de::Error::custom(format!(
            "invalid duration {n}: missing unit (e.g. {n}s)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
    }

    #[test]
    fn rejects_bad_durations() {
        assert!(parse("5").unwrap_err().contains("missing unit"));
        assert!(parse("5x").unwrap_err().contains("unknown unit"));
        assert!(parse("ms").unwrap_err().contains("expected a number"));
        assert!(parse("").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for text in ["5s", "200ms", "2h", "90m"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
