//! HAProxy's HTTP log format, `option httplog` (haproxy.org, configuration
//! manual, "HTTP log format"):
//!
//! ```text
//! Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in \
//!   static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1"
//! ```
//!
//! that is `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc
//! %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r` (1.x: `Tq/Tw/Tc/Tr/Tt`), where the
//! captured header blocks `{…}` appear only when headers are captured. Whatever
//! comes before the client (a syslog header of any kind, or nothing when HAProxy
//! logs to stdout) is skipped: the line is anchored at the accept date, the
//! first `[dd/` after a space. A frontend written `name~` accepted TLS, so the
//! scheme is `https`. Timers are milliseconds, `-1` for a step not reached, and
//! `+` prefixes a value logged before the end (`option logasap`). A request line
//! cut short by HAProxy's log length limit (no closing quote) is read as far as
//! it goes.

use super::scan::{client_socket, parse_int, request_line, status, Attributes, Cursor};
use super::{time, Malformed, Parsed};

const FORMAT: &str = "haproxy_http";

/// Parses one HAProxy HTTP log line.
pub(super) fn parse(line: &str) -> Result<Parsed, Malformed> {
    let mut attributes = Attributes::new();
    let date_at = accept_date_position(line)
        .ok_or_else(|| Malformed::new(FORMAT, "no [dd/Mon/yyyy:HH:MM:SS.mmm] accept date after a client"))?;
    let before = line.get(..date_at.saturating_sub(1)).unwrap_or("");
    let client = before.rsplit(' ').next().unwrap_or("");
    if !client_socket(&mut attributes, client) {
        return Err(Malformed::new(
            FORMAT,
            "the client before the accept date is not address:port",
        ));
    }

    let mut cursor = Cursor::at(line, date_at, FORMAT);
    let when = cursor.bracketed("no [accept date]")?;
    let time_unix_nano = time::common_log(when)
        .ok_or_else(|| Malformed::new(FORMAT, "the accept date is not dd/Mon/yyyy:HH:MM:SS.mmm"))?;
    let frontend = cursor.token("no frontend after the accept date")?;
    if frontend.ends_with('~') {
        attributes.text("url.scheme", "https");
    }
    cursor.token("no backend/server after the frontend")?;
    let timers = cursor.token("no TR/Tw/Tc/Tr/Ta timers after the backend/server")?;
    let total = total_time(timers)?;

    let code = cursor.token("no status code after the timers")?;
    if code != "-1" && !status(&mut attributes, code) {
        return Err(Malformed::new(FORMAT, "the status code is not a number"));
    }
    let bytes = cursor.token("no bytes read after the status code")?;
    let bytes = parse_int(bytes.trim_start_matches('+'))
        .ok_or_else(|| Malformed::new(FORMAT, "the bytes read are not a number"))?;
    attributes.int("http.response.size", bytes);

    cursor.token("no captured request cookie after the bytes read")?;
    cursor.token("no captured response cookie after the request cookie")?;
    cursor.token("no termination state after the cookies")?;
    cursor.token("no connection counts after the termination state")?;
    cursor.token("no queue lengths after the connection counts")?;
    while cursor.peek() == Some(b'{') {
        cursor.until(b'}', "a captured header block {…} has no closing brace")?;
        cursor.skip_spaces();
    }
    cursor.expect(b'"', "no quoted request line at the end")?;
    let rest = cursor.rest();
    request_line(&mut attributes, rest.strip_suffix('"').unwrap_or(rest));

    if let Some(seconds) = total {
        attributes.double("http.server.request.duration", seconds);
    }
    Ok(Parsed {
        attributes: attributes.0,
        time_unix_nano: Some(time_unix_nano),
    })
}

/// Where the accept date's `[` is: the first `[` after a space followed by two
/// digits and `/`.
fn accept_date_position(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    bytes.windows(5).position(|window| {
        matches!(window, [b' ', b'[', day_high, day_low, b'/'] if day_high.is_ascii_digit() && day_low.is_ascii_digit())
    })
    .map(|space| space + 1)
}

/// The last of the five timers (`Ta`, or 1.x's `Tt`), in seconds; `None` when `-1`.
fn total_time(timers: &str) -> Result<Option<f64>, Malformed> {
    let mut parts = timers.split('/');
    let total = parts.nth(4).filter(|_| parts.next().is_none());
    let total = total.ok_or_else(|| Malformed::new(FORMAT, "the timers are not TR/Tw/Tc/Tr/Ta"))?;
    if total == "-1" {
        return Ok(None);
    }
    let millis = parse_int(total.trim_start_matches('+'))
        .ok_or_else(|| Malformed::new(FORMAT, "the total time Ta is not a number"))?;
    Ok(Some(millis as f64 / 1000.0))
}
