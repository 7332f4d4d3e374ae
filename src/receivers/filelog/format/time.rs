//! The timestamps access logs write, read by hand (no date library on the hot
//! path): the common log format's `10/Oct/2000:13:55:36 -0700` (nginx, Apache,
//! and HAProxy's `06/Feb/2009:12:14:14.655` without a zone) and RFC 3339's
//! `2018-07-02T22:23:00.186641Z` (the load balancers, Envoy). Each returns
//! nanoseconds since the Unix epoch, or `None` for a date before it or not a
//! date at all.

/// Nanoseconds in a second.
const NANOS: u64 = 1_000_000_000;

/// A common-log-format time: `dd/Mon/yyyy:HH:MM:SS`, an optional fraction of a
/// second (`.655`), and an optional zone (` -0700`). Without a zone the time is
/// read as UTC.
pub(super) fn common_log(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes.get(2) != Some(&b'/') || bytes.get(6) != Some(&b'/') || bytes.get(11) != Some(&b':') {
        return None;
    }
    let day = digits(bytes, 0, 2)?;
    let month = month(bytes.get(3..6)?)?;
    let year = digits(bytes, 7, 4)?;
    let (seconds_of_day, rest) = clock(bytes.get(12..)?)?;
    let (fraction, rest) = fraction(rest);
    let offset = match rest {
        [] => 0,
        [b' ', zone @ ..] => zone_offset(zone)?,
        _ => return None,
    };
    instant(year, month, day, seconds_of_day, fraction, offset)
}

/// An RFC 3339 time: `yyyy-mm-ddTHH:MM:SS`, an optional fraction of a second,
/// and `Z` or `±HH:MM` (`t`, `z` and a space for `T` accepted too).
pub(super) fn rfc3339(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let year = digits(bytes, 0, 4)?;
    let month = digits(bytes, 5, 2)?;
    let day = digits(bytes, 8, 2)?;
    let (seconds_of_day, rest) = clock(bytes.get(11..)?)?;
    let (fraction, rest) = fraction(rest);
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), hours_high, hours_low, b':', minutes_high, minutes_low] => {
            signed_offset(*sign, &[*hours_high, *hours_low, *minutes_high, *minutes_low])?
        }
        _ => return None,
    };
    instant(year, month, day, seconds_of_day, fraction, offset)
}

/// `HH:MM:SS` at the start of `bytes`: seconds of the day and what follows.
fn clock(bytes: &[u8]) -> Option<(u64, &[u8])> {
    if bytes.get(2) != Some(&b':') || bytes.get(5) != Some(&b':') {
        return None;
    }
    let hours = digits(bytes, 0, 2)?;
    let minutes = digits(bytes, 3, 2)?;
    // 60 for a leap second, which then reads as the next second.
    let seconds = digits(bytes, 6, 2)?;
    if hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    Some((hours * 3600 + minutes * 60 + seconds, bytes.get(8..)?))
}

/// An optional `.ddd…` (or `,ddd…`) at the start of `bytes`: nanoseconds (digits
/// past the ninth ignored) and what follows.
fn fraction(bytes: &[u8]) -> (u64, &[u8]) {
    let Some((b'.' | b',', rest)) = bytes.split_first() else {
        return (0, bytes);
    };
    let length = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut nanos = 0;
    for position in 0..9 {
        let digit = if position < length {
            rest.get(position).map_or(0, |b| u64::from(b - b'0'))
        } else {
            0
        };
        nanos = nanos * 10 + digit;
    }
    (nanos, rest.get(length..).unwrap_or(&[]))
}

/// `-0700`: the zone's offset east of UTC, in seconds (negative west).
fn zone_offset(zone: &[u8]) -> Option<i64> {
    match zone {
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 4 => signed_offset(*sign, rest),
        _ => None,
    }
}

fn signed_offset(sign: u8, hhmm: &[u8]) -> Option<i64> {
    let hours = digits(hhmm, 0, 2)? as i64;
    let minutes = digits(hhmm, 2, 2)? as i64;
    if hours > 23 || minutes > 59 {
        return None;
    }
    let offset = hours * 3600 + minutes * 60;
    Some(if sign == b'-' { -offset } else { offset })
}

/// Nanoseconds since the epoch of a local date and time `offset` seconds east
/// of UTC.
fn instant(year: u64, month: u64, day: u64, seconds_of_day: u64, nanos: u64, offset: i64) -> Option<u64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year as i64, month as i64, day as i64);
    let seconds = days * 86_400 + seconds_of_day as i64 - offset;
    let seconds = u64::try_from(seconds).ok()?;
    seconds.checked_mul(NANOS)?.checked_add(nanos)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The number written in `count` ASCII digits from `start`.
fn digits(bytes: &[u8], start: usize, count: usize) -> Option<u64> {
    let field = bytes.get(start..start + count)?;
    field.iter().try_fold(0, |value, byte| {
        byte.is_ascii_digit().then(|| value * 10 + u64::from(byte - b'0'))
    })
}

/// `Jan` … `Dec` as 1 … 12 (any case, as the formats write it in English).
fn month(name: &[u8]) -> Option<u64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
    ];
    let lower = [
        name.first()?.to_ascii_lowercase(),
        name.get(1)?.to_ascii_lowercase(),
        name.get(2)?.to_ascii_lowercase(),
    ];
    MONTHS
        .iter()
        .position(|month| **month == lower)
        .map(|index| index as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_log_times_read_with_their_zone() {
        // 2000-10-10T20:55:36Z
        assert_eq!(common_log("10/Oct/2000:13:55:36 -0700"), Some(971_211_336 * NANOS));
        assert_eq!(common_log("10/Oct/2000:20:55:36 +0000"), Some(971_211_336 * NANOS));
        assert_eq!(
            common_log("06/Feb/2009:12:14:14.655"),
            Some(1_233_922_454 * NANOS + 655_000_000)
        );
        assert_eq!(common_log("29/Feb/2024:00:00:00 +0000"), Some(1_709_164_800 * NANOS));
    }

    #[test]
    fn rfc3339_times_read_with_fractions_and_offsets() {
        assert_eq!(
            rfc3339("2018-07-02T22:23:00.186641Z"),
            Some(1_530_570_180 * NANOS + 186_641_000)
        );
        assert_eq!(
            rfc3339("2018-07-03T00:23:00.186641+02:00"),
            Some(1_530_570_180 * NANOS + 186_641_000)
        );
        assert_eq!(rfc3339("1970-01-01T00:00:00.123456789123Z"), Some(123_456_789));
        assert_eq!(
            rfc3339("2016-04-15T20:17:00.310Z"),
            Some(1_460_751_420 * NANOS + 310_000_000)
        );
    }

    #[test]
    fn impossible_dates_and_garbage_are_refused() {
        for text in [
            "31/Feb/2024:00:00:00 +0000",
            "29/Feb/2023:00:00:00 +0000",
            "10/Foo/2000:13:55:36 -0700",
            "10/Oct/2000:24:00:00 -0700",
            "10/Oct/2000:13:55:36 -07",
            "10/Oct/2000:13:55:36-0700",
            "31/Dec/1969:23:59:59 +0000",
            "2018-13-02T22:23:00Z",
            "2018-07-02T22:23:00",
            "2018-07-02T22:23:00+0200",
            "",
            "1/Oct/2000:13:55:36 -0700",
        ] {
            assert_eq!(common_log(text).or_else(|| rfc3339(text)), None, "{text}");
        }
    }
}
