//! Envoy's default access log format (envoyproxy.io, "Access logging",
//! "Default format string"):
//!
//! ```text
//! [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//! %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//! %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//! "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//! ```
//!
//! and Istio's default, which adds `%RESPONSE_CODE_DETAILS%
//! %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"` after the
//! flags and `%UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS%
//! %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%` at the end. The
//! two are told apart by the field after the flags: a byte count in Envoy's, a
//! word (`via_upstream`, `-`) in Istio's. `%DURATION%` is milliseconds.

use super::scan::{authority_attributes, client_socket, parse_int, request_line, status, Attributes, Cursor};
use super::{time, Malformed, Parsed};

const FORMAT: &str = "envoy";

/// Parses one Envoy access log line.
pub(super) fn parse(line: &str) -> Result<Parsed, Malformed> {
    let mut attributes = Attributes::new();
    let mut cursor = Cursor::new(line, FORMAT);

    let when = cursor.bracketed("no [start time] at the start")?;
    let time_unix_nano =
        time::rfc3339(when).ok_or_else(|| Malformed::new(FORMAT, "the start time is not an RFC 3339 time"))?;
    let request = cursor.quoted("no quoted request line after the start time")?;
    request_line(&mut attributes, &request.text());

    let code = cursor.token("no response code after the request line")?;
    if code != "-" && !status(&mut attributes, code) {
        return Err(Malformed::new(FORMAT, "the response code is not a number"));
    }
    cursor.token("no response flags after the response code")?;
    let mut received = cursor.token("no bytes received after the response flags")?;
    if parse_int(received).is_none() && received != "-" {
        // Istio: `received` was %RESPONSE_CODE_DETAILS%.
        cursor.token("no connection termination details after the response code details")?;
        cursor.quoted("no quoted upstream transport failure reason after the termination details")?;
        received = cursor.token("no bytes received after the upstream transport failure reason")?;
    }
    count(&mut attributes, "http.request.body.size", received)?;
    count(
        &mut attributes,
        "http.response.body.size",
        cursor.token("no bytes sent after the bytes received")?,
    )?;
    let duration = cursor.token("no duration after the bytes sent")?;
    if duration != "-" {
        let millis = parse_int(duration)
            .ok_or_else(|| Malformed::new(FORMAT, "the duration is not a number of milliseconds"))?;
        attributes.double("http.server.request.duration", millis as f64 / 1000.0);
    }
    cursor.token("no upstream service time after the duration")?;

    let forwarded_for = cursor.quoted("no quoted X-Forwarded-For after the upstream service time")?;
    let user_agent = cursor.quoted("no quoted user agent after X-Forwarded-For")?;
    attributes.text_cow("user_agent.original", user_agent.text());
    cursor.quoted("no quoted request id after the user agent")?;
    let authority = cursor.quoted("no quoted authority after the request id")?;
    authority_attributes(&mut attributes, &authority.text());
    cursor.quoted("no quoted upstream host after the authority")?;

    let forwarded_client = forwarded_for.raw.split(',').next().map(str::trim).unwrap_or("");
    if forwarded_client.is_empty() || forwarded_client == "-" {
        istio_downstream_remote(&mut attributes, &mut cursor);
    } else {
        attributes.text("client.address", forwarded_client);
    }
    Ok(Parsed {
        attributes: attributes.0,
        time_unix_nano: Some(time_unix_nano),
    })
}

/// Istio's `%DOWNSTREAM_REMOTE_ADDRESS%`, the fourth field after the upstream
/// host, as the client when there is no `X-Forwarded-For`.
fn istio_downstream_remote(attributes: &mut Attributes, cursor: &mut Cursor<'_>) {
    let mut fields = cursor.rest().split(' ').filter(|field| !field.is_empty());
    if let Some(remote) = fields.nth(3) {
        client_socket(attributes, remote);
    }
}

/// A byte count; `-` leaves it out.
fn count(attributes: &mut Attributes, key: &str, text: &str) -> Result<(), Malformed> {
    if text != "-" {
        let bytes = parse_int(text).ok_or_else(|| Malformed::new(FORMAT, "a byte count is not a number"))?;
        attributes.int(key, bytes);
    }
    Ok(())
}
