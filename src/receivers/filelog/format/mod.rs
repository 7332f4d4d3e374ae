//! Access-log formats: `format: <name>` on the filelog receiver parses each line
//! of a web server's or load balancer's access log into the HTTP semantic
//! conventions, so an SLI on logs reads like one on spans
//! (`attributes["http.response.status_code"] >= 500`,
//! `attributes["http.server.request.duration"] > 0.3`).
//!
//! ```yaml
//! receivers:
//!   filelog:
//!     include: [/var/log/nginx/access.log]
//!     format: nginx_combined_request_time
//! ```
//!
//! | `format` | the lines it reads | documented at |
//! |---|---|---|
//! | `nginx_combined` | nginx's predefined `combined` `log_format`: `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`; anything after the user agent is ignored | nginx.org, `ngx_http_log_module` |
//! | `nginx_combined_request_time` | `combined` and ` $request_time` (seconds, millisecond resolution) | the same |
//! | `apache_combined_duration` | `%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" %D` (`%D`: microseconds) | httpd.apache.org, `mod_log_config` |
//! | `aws_alb` | Application Load Balancer access log entries (`type time elb client:port target:port request_processing_time target_processing_time response_processing_time elb_status_code target_status_code received_bytes sent_bytes "request" "user_agent" …`; the fields after the user agent are ignored) | docs.aws.amazon.com, "Access logs for your Application Load Balancer" |
//! | `gcp_lb` | Cloud Load Balancing's request logs as Cloud Logging exports them: one JSON `LogEntry` a line, with `httpRequest` and `timestamp` (`http_request` and snake-case keys accepted too) | cloud.google.com, "LogEntry" and "HttpRequest" |
//! | `envoy` | Envoy's default format (`[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"`), and Istio's longer default, which adds `%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"` after the flags and the upstream cluster, local and remote addresses, server name and route after the upstream host | envoyproxy.io, "Access logging", "Default format string" |
//! | `haproxy_http` | HAProxy's `option httplog` (`%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r`, and 1.x's `Tq/Tw/Tc/Tr/Tt`), with or without a syslog header before it | haproxy.org, configuration manual, "HTTP log format" |
//!
//! Attributes set (a `-` or missing value leaves its attribute out rather than
//! setting it to `-`):
//!
//! | attribute | type | from |
//! |---|---|---|
//! | `http.request.method` | string | the request line's method; `_OTHER` for one the semantic conventions do not name, with `http.request.method_original` holding it |
//! | `url.path` | string | the request target up to `?` (as written, not decoded) |
//! | `url.query` | string | after `?`, when there is one |
//! | `url.scheme` | string | an absolute-form target (`aws_alb`, `gcp_lb`, proxies); `https` for a HAProxy frontend written `name~` (TLS) |
//! | `server.address`, `server.port` | string, int | an absolute-form target's authority; Envoy's `:authority` |
//! | `network.protocol.version` | string | `HTTP/1.1` → `1.1`, `HTTP/2.0` → `2` |
//! | `http.response.status_code` | int | the status (`aws_alb`: `elb_status_code`, what the client got; Envoy's `0`, no response sent, is kept) |
//! | `client.address`, `client.port` | string, int | the peer (nginx, Apache, ALB, HAProxy, Istio's downstream remote address); Envoy's first `X-Forwarded-For` entry; GCP's `remoteIp` |
//! | `user_agent.original` | string | the user agent, escapes (`\"`, `\\`, nginx's `\xHH`) undone |
//! | `http.response.body.size` | int | body bytes sent (nginx, Apache — whose `-` means 0 — and Envoy) |
//! | `http.response.size` | int | bytes sent including headers (`aws_alb` `sent_bytes`, HAProxy `%B`, GCP `responseSize`) |
//! | `http.request.body.size` / `http.request.size` | int | Envoy's body bytes received / ALB's `received_bytes`, GCP's `requestSize` |
//! | `http.server.request.duration` | double, seconds | nginx `$request_time`; Apache `%D` / 10^6; ALB the sum of the three processing times (left out when one is `-1`); GCP `latency`; Envoy `%DURATION%` / 1000; HAProxy `Ta` (`Tt` in 1.x) / 1000, left out when `-1` |
//!
//! The record's `time_unix_nano` is the line's own time: nginx's `$time_local`
//! and Apache's `%t` (logged when the response is done), the ALB's `time`
//! (when the response was sent), Envoy's `%START_TIME%` and HAProxy's accept date
//! (when the request came in), GCP's `timestamp`. HAProxy writes its date in
//! local time without a zone; it is read as UTC (run HAProxy with `TZ=UTC`). The
//! body is kept as the line.
//!
//! Speed: the text formats are hand-written scanners over the line (no regex);
//! a parse allocates the attribute keys and values and nothing else unless a
//! user agent has escapes. `gcp_lb` goes through `serde_json`, borrowing strings.

mod alb;
mod clf;
mod envoy;
mod gcp;
mod haproxy;
mod scan;
mod time;

#[doc(hidden)]
pub mod fuzzing;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::KeyValue;

use crate::receivers::filelog::entry::Entry;

/// A known access-log format, as `format:` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// nginx's predefined `combined` log format.
    NginxCombined,
    /// nginx's `combined` with ` $request_time` appended.
    NginxCombinedRequestTime,
    /// Apache's combined log format with `%D` (microseconds) appended.
    ApacheCombinedDuration,
    /// AWS Application Load Balancer access log entries.
    AwsAlb,
    /// Google Cloud Load Balancing request logs, one JSON `LogEntry` a line.
    GcpLb,
    /// Envoy's (and Istio's) default access log format.
    Envoy,
    /// HAProxy's `option httplog`, with or without a syslog header.
    HaproxyHttp,
}

impl Format {
    /// Every format, in the order the docs list them.
    pub const ALL: [Format; 7] = [
        Format::NginxCombined,
        Format::NginxCombinedRequestTime,
        Format::ApacheCombinedDuration,
        Format::AwsAlb,
        Format::GcpLb,
        Format::Envoy,
        Format::HaproxyHttp,
    ];

    /// The name `format:` takes.
    pub fn name(&self) -> &'static str {
        match self {
            Format::NginxCombined => "nginx_combined",
            Format::NginxCombinedRequestTime => "nginx_combined_request_time",
            Format::ApacheCombinedDuration => "apache_combined_duration",
            Format::AwsAlb => "aws_alb",
            Format::GcpLb => "gcp_lb",
            Format::Envoy => "envoy",
            Format::HaproxyHttp => "haproxy_http",
        }
    }

    /// Parses the entry's text body (`entry.body_text()`) in place: sets the
    /// attributes (replacing any of the same key) and `time_unix_nano`, keeps the
    /// body. `Err` for a line that is not of this format (or a body that is not
    /// text), and then the entry is left as it was.
    pub fn parse(&self, entry: &mut Entry) -> Result<(), Malformed> {
        let line = entry
            .body_text()
            .ok_or_else(|| Malformed::new(self.name(), "the body is not text"))?;
        let parsed = self.parse_line(line)?;
        if let Some(time) = parsed.time_unix_nano {
            entry.record.time_unix_nano = time;
        }
        set_attributes(&mut entry.record.attributes, parsed.attributes);
        Ok(())
    }

    /// The attributes and time of one line.
    pub(crate) fn parse_line(&self, line: &str) -> Result<Parsed, Malformed> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        match self {
            Format::NginxCombined => clf::parse(line, self.name(), clf::Duration::None),
            Format::NginxCombinedRequestTime => clf::parse(line, self.name(), clf::Duration::Seconds),
            Format::ApacheCombinedDuration => clf::parse(line, self.name(), clf::Duration::Microseconds),
            Format::AwsAlb => alb::parse(line),
            Format::GcpLb => gcp::parse(line),
            Format::Envoy => envoy::parse(line),
            Format::HaproxyHttp => haproxy::parse(line),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What one line parsed into.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    /// The attributes, in the order the line had them.
    pub attributes: Vec<KeyValue>,
    /// The line's own time, when it has one.
    pub time_unix_nano: Option<u64>,
}

/// Adds `new` to `attributes`; one of a key already there replaces the old one.
fn set_attributes(attributes: &mut Vec<KeyValue>, new: Vec<KeyValue>) {
    if attributes.is_empty() {
        *attributes = new;
        return;
    }
    attributes.retain(|old| !new.iter().any(|added| added.key == old.key));
    attributes.extend(new);
}

/// A line that is not of the format it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a {format} line: {reason}{}", at.map(|at| format!(" (at byte {at})")).unwrap_or_default())]
pub struct Malformed {
    /// The format's name.
    pub format: &'static str,
    /// What was wrong, e.g. "no status code after the request line".
    pub reason: Cow<'static, str>,
    /// Where in the line, in bytes from its start, when known.
    pub at: Option<usize>,
}

impl Malformed {
    /// A mistake found somewhere in the line.
    pub(crate) fn new(format: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            format,
            reason: reason.into(),
            at: None,
        }
    }

    /// A mistake found at byte `at`.
    pub(crate) fn at(format: &'static str, reason: &'static str, at: usize) -> Self {
        Self {
            format,
            reason: Cow::Borrowed(reason),
            at: Some(at),
        }
    }
}
