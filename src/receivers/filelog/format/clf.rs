//! The combined log format as nginx (`log_format combined`, predefined) and
//! Apache (`LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\"
//! \"%{User-agent}i\""`) write it, optionally followed by the request's
//! duration: nginx's `$request_time` (seconds) or Apache's `%D` (microseconds).
//!
//! ```text
//! 203.0.113.7 - alice [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "http://example.com/" "curl/8.5.0" 0.004
//! ```

use super::scan::{client_address, request_line, status, Attributes, Cursor};
use super::{time, Malformed, Parsed};

/// What follows the user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Duration {
    /// Nothing this parser reads (anything there is ignored).
    None,
    /// nginx's `$request_time`: seconds with millisecond resolution.
    Seconds,
    /// Apache's `%D`: microseconds.
    Microseconds,
}

/// Parses one combined-log-format line.
pub(super) fn parse(line: &str, format: &'static str, duration: Duration) -> Result<Parsed, Malformed> {
    let mut attributes = Attributes::new();
    let mut cursor = Cursor::new(line, format);

    let client = cursor.token("no client address")?;
    client_address(&mut attributes, client);
    // `-` and the user (`%l %u`, `- $remote_user`), then `[`.
    cursor.until(b'[', "no [time] after the client address")?;
    let when = cursor.until(b']', "the [time] has no closing bracket")?;
    let time_unix_nano =
        time::common_log(when).ok_or_else(|| Malformed::new(format, "the time is not dd/Mon/yyyy:HH:MM:SS ±hhmm"))?;
    cursor.skip_spaces();

    let request = cursor.quoted("no quoted request line after the time")?;
    request_line(&mut attributes, &request.text());

    let code = cursor.token("no status code after the request line")?;
    if !status(&mut attributes, code) {
        return Err(Malformed::new(format, "the status code is not a number"));
    }
    let bytes = cursor.token("no byte count after the status code")?;
    body_size(&mut attributes, bytes, format)?;

    cursor.quoted("no quoted referer after the byte count")?;
    let user_agent = cursor.quoted("no quoted user agent after the referer")?;
    attributes.text_cow("user_agent.original", user_agent.text());

    match duration {
        Duration::None => {}
        Duration::Seconds => request_duration(&mut attributes, &mut cursor, 1.0, format)?,
        Duration::Microseconds => request_duration(&mut attributes, &mut cursor, 1e-6, format)?,
    }
    Ok(Parsed {
        attributes: attributes.0,
        time_unix_nano: Some(time_unix_nano),
    })
}

/// `$body_bytes_sent` / `%b`; Apache writes `-` for none, which is 0 bytes.
fn body_size(attributes: &mut Attributes, bytes: &str, format: &'static str) -> Result<(), Malformed> {
    let size = if bytes == "-" {
        0
    } else {
        super::scan::parse_int(bytes).ok_or_else(|| Malformed::new(format, "the byte count is not a number"))?
    };
    attributes.int("http.response.body.size", size);
    Ok(())
}

/// The duration after the user agent, in `unit` seconds; `-` leaves it out.
fn request_duration(
    attributes: &mut Attributes,
    cursor: &mut Cursor<'_>,
    unit: f64,
    format: &'static str,
) -> Result<(), Malformed> {
    let text = cursor.token("no request duration after the user agent")?;
    if text == "-" {
        return Ok(());
    }
    let value = super::scan::parse_decimal(text)
        .ok_or_else(|| Malformed::new(format, "the request duration is not a number"))?;
    attributes.double("http.server.request.duration", value * unit);
    Ok(())
}
