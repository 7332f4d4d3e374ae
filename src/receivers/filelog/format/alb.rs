//! AWS Application Load Balancer access log entries: space-separated fields,
//! some quoted, in the order the ALB documentation gives
//! (docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html):
//!
//! ```text
//! type time elb client:port target:port request_processing_time target_processing_time
//! response_processing_time elb_status_code target_status_code received_bytes sent_bytes
//! "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" …
//! ```
//!
//! The fields after the user agent (TLS, target group, trace, rule, …) are
//! ignored, so entries with fields AWS adds later still parse. The three
//! processing times are seconds, `-1` when the load balancer could not send the
//! request to a target or the target closed the connection; the duration is
//! their sum and is left out when one is `-1`. `request` is
//! `METHOD scheme://host:port/path?query PROTOCOL`, and `- scheme://host:port- -`
//! for a request the load balancer could not read.

use super::scan::{client_socket, parse_int, request_line, status, Attributes, Cursor};
use super::{time, Malformed, Parsed};

const FORMAT: &str = "aws_alb";

/// Parses one ALB access log entry.
pub(super) fn parse(line: &str) -> Result<Parsed, Malformed> {
    let mut attributes = Attributes::new();
    let mut cursor = Cursor::new(line, FORMAT);

    cursor.token("no type (http, https, h2, ws, wss, grpcs)")?;
    let when = cursor.token("no time after the type")?;
    let time_unix_nano =
        time::rfc3339(when).ok_or_else(|| Malformed::new(FORMAT, "the time is not an RFC 3339 time"))?;
    cursor.token("no load balancer after the time")?;
    let client = cursor.token("no client:port after the load balancer")?;
    if !client_socket(&mut attributes, client) {
        return Err(Malformed::new(FORMAT, "the client is not address:port"));
    }
    cursor.token("no target:port after the client")?;

    let mut total = Some(0.0);
    for reason in [
        "no request_processing_time after the target",
        "no target_processing_time after the request_processing_time",
        "no response_processing_time after the target_processing_time",
    ] {
        let seconds = processing_time(cursor.token(reason)?)?;
        total = total.zip(seconds).map(|(sum, seconds)| sum + seconds);
    }

    let elb_status = cursor.token("no elb_status_code after the processing times")?;
    if elb_status != "-" && !status(&mut attributes, elb_status) {
        return Err(Malformed::new(FORMAT, "the elb_status_code is not a number"));
    }
    cursor.token("no target_status_code after the elb_status_code")?;
    let received = cursor.token("no received_bytes after the target_status_code")?;
    let sent = cursor.token("no sent_bytes after the received_bytes")?;
    for (key, text) in [("http.request.size", received), ("http.response.size", sent)] {
        if text != "-" {
            let bytes = parse_int(text).ok_or_else(|| Malformed::new(FORMAT, "a byte count is not a number"))?;
            attributes.int(key, bytes);
        }
    }

    let request = cursor.quoted("no quoted request after the byte counts")?;
    request_line(&mut attributes, &request.text());
    let user_agent = cursor.quoted("no quoted user agent after the request")?;
    attributes.text_cow("user_agent.original", user_agent.text());

    if let Some(seconds) = total {
        attributes.double("http.server.request.duration", seconds);
    }
    Ok(Parsed {
        attributes: attributes.0,
        time_unix_nano: Some(time_unix_nano),
    })
}

/// A processing time in seconds; `None` for `-1` (not measured).
fn processing_time(text: &str) -> Result<Option<f64>, Malformed> {
    if text == "-1" {
        return Ok(None);
    }
    super::scan::parse_decimal(text)
        .map(Some)
        .ok_or_else(|| Malformed::new(FORMAT, "a processing time is not a number of seconds"))
}
