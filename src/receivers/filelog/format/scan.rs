//! The pieces every hand-written access-log parser is built from: a cursor over
//! the line's bytes (tokens, quoted and bracketed fields), the attribute list a
//! parser fills, and the readers of the request line, `host:port` pairs and
//! numbers that several formats share.
//!
//! Every delimiter the formats use is ASCII, so every position a cursor stops at
//! is a `char` boundary; slices are still taken with `str::get`, so a mistake here
//! is an `Err`, not a panic.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

use super::Malformed;

/// A position in a line being parsed, and the format name for its errors.
pub(super) struct Cursor<'a> {
    line: &'a str,
    pos: usize,
    format: &'static str,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `line`, reporting errors as `format`'s.
    pub(super) fn new(line: &'a str, format: &'static str) -> Self {
        Self { line, pos: 0, format }
    }

    /// A cursor at byte `pos` of `line` (a `char` boundary the caller found).
    pub(super) fn at(line: &'a str, pos: usize, format: &'static str) -> Self {
        Self { line, pos, format }
    }

    /// An error at the cursor's position.
    pub(super) fn error(&self, reason: &'static str) -> Malformed {
        Malformed::at(self.format, reason, self.pos)
    }

    /// The next byte, without moving.
    pub(super) fn peek(&self) -> Option<u8> {
        self.line.as_bytes().get(self.pos).copied()
    }

    /// The rest of the line.
    pub(super) fn rest(&self) -> &'a str {
        self.line.get(self.pos..).unwrap_or("")
    }

    /// Moves past `byte` if it is next; says whether it was.
    pub(super) fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Moves past `byte`, or fails with `reason`.
    pub(super) fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), Malformed> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(self.error(reason))
        }
    }

    /// Moves past any spaces.
    pub(super) fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// The text up to the next space or the end of the line (at least one byte),
    /// then past the spaces after it; `reason` when there is none.
    pub(super) fn token(&mut self, reason: &'static str) -> Result<&'a str, Malformed> {
        let start = self.pos;
        let bytes = self.line.as_bytes();
        let mut end = start;
        while end < bytes.len() && bytes[end] != b' ' {
            end += 1;
        }
        if end == start {
            return Err(self.error(reason));
        }
        let token = self.line.get(start..end).ok_or_else(|| self.error(reason))?;
        self.pos = end;
        self.skip_spaces();
        Ok(token)
    }

    /// The text up to the next `byte` (which is then skipped); `reason` when the
    /// line ends first.
    pub(super) fn until(&mut self, byte: u8, reason: &'static str) -> Result<&'a str, Malformed> {
        let rest = self.line.as_bytes().get(self.pos..).unwrap_or(&[]);
        let length = rest.iter().position(|&b| b == byte).ok_or_else(|| self.error(reason))?;
        let text = self
            .line
            .get(self.pos..self.pos + length)
            .ok_or_else(|| self.error(reason))?;
        self.pos += length + 1;
        Ok(text)
    }

    /// A `[...]` field, then past the spaces after it.
    pub(super) fn bracketed(&mut self, reason: &'static str) -> Result<&'a str, Malformed> {
        self.expect(b'[', reason)?;
        let text = self.until(b']', reason)?;
        self.skip_spaces();
        Ok(text)
    }

    /// A `"..."` field in which `\"` and `\\` stand for themselves (as nginx,
    /// Apache and the load balancers write them), then past the spaces after it.
    /// Returns the raw text between the quotes and whether it holds a backslash,
    /// for [`unescape`].
    pub(super) fn quoted(&mut self, reason: &'static str) -> Result<Quoted<'a>, Malformed> {
        self.expect(b'"', reason)?;
        let start = self.pos;
        let bytes = self.line.as_bytes();
        let mut at = start;
        let mut escaped = false;
        while at < bytes.len() {
            match bytes[at] {
                b'"' => {
                    let raw = self.line.get(start..at).ok_or_else(|| self.error(reason))?;
                    self.pos = at + 1;
                    self.skip_spaces();
                    return Ok(Quoted { raw, escaped });
                }
                b'\\' => {
                    escaped = true;
                    at += 2;
                }
                _ => at += 1,
            }
        }
        Err(self.error("a quoted field has no closing quote"))
    }
}

/// A quoted field as it was written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Quoted<'a> {
    /// The text between the quotes, escapes not yet undone.
    pub raw: &'a str,
    /// Whether `raw` holds a backslash.
    pub escaped: bool,
}

impl<'a> Quoted<'a> {
    /// The value with escapes undone (borrowed when there were none).
    pub(super) fn text(&self) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(unescape(self.raw))
        } else {
            Cow::Borrowed(self.raw)
        }
    }
}

/// Undoes the escapes web servers write into quoted log fields: `\"`, `\\`, and
/// nginx's `\xHH` for a quote, a control byte or a byte above 0x7e (so a UTF-8
/// user agent comes back whole). Anything else is kept as written; bytes that do
/// not form UTF-8 become U+FFFD.
pub(super) fn unescape(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte != b'\\' {
            out.push(byte);
            at += 1;
            continue;
        }
        match bytes.get(at + 1) {
            Some(&next @ (b'"' | b'\\')) => {
                out.push(next);
                at += 2;
            }
            Some(b'x') => match (bytes.get(at + 2).and_then(hex), bytes.get(at + 3).and_then(hex)) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    at += 4;
                }
                _ => {
                    out.push(byte);
                    at += 1;
                }
            },
            _ => {
                out.push(byte);
                at += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

fn hex(byte: &u8) -> Option<u8> {
    (*byte as char).to_digit(16).map(|digit| digit as u8)
}

/// The attributes a parser collects before it knows the whole line is good.
pub(super) struct Attributes(pub Vec<KeyValue>);

impl Attributes {
    pub(super) fn new() -> Self {
        Self(Vec::with_capacity(12))
    }

    fn push(&mut self, key: &str, value: any_value::Value) {
        self.0.push(KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        });
    }

    /// A string attribute, left out when the log wrote `-` or nothing.
    pub(super) fn text(&mut self, key: &str, value: &str) {
        if !is_absent(value) {
            self.push(key, any_value::Value::StringValue(value.to_owned()));
        }
    }

    /// A string attribute from an owned or borrowed value, left out when `-` or empty.
    pub(super) fn text_cow(&mut self, key: &str, value: Cow<'_, str>) {
        if !is_absent(&value) {
            self.push(key, any_value::Value::StringValue(value.into_owned()));
        }
    }

    /// An integer attribute.
    pub(super) fn int(&mut self, key: &str, value: i64) {
        self.push(key, any_value::Value::IntValue(value));
    }

    /// A floating-point attribute.
    pub(super) fn double(&mut self, key: &str, value: f64) {
        self.push(key, any_value::Value::DoubleValue(value));
    }
}

/// `-` (or nothing): the value the formats write for one they do not have.
pub(super) fn is_absent(value: &str) -> bool {
    value.is_empty() || value == "-"
}

/// A count or status: ASCII digits only (no sign), fitting an `i64`.
pub(super) fn parse_int(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A duration such as `0.123` or `12` (no sign, no exponent), in the unit written.
pub(super) fn parse_decimal(text: &str) -> Option<f64> {
    let mut digits = 0;
    let mut dots = 0;
    for byte in text.bytes() {
        match byte {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            _ => return None,
        }
    }
    if digits == 0 || dots > 1 {
        return None;
    }
    text.parse().ok().filter(|value: &f64| value.is_finite())
}

/// Sets `http.response.status_code` from a 3-digit status (or Envoy's `0`).
pub(super) fn status(attributes: &mut Attributes, text: &str) -> bool {
    match parse_int(text) {
        Some(code) if code < 1000 => {
            attributes.int("http.response.status_code", code);
            true
        }
        _ => false,
    }
}

/// The methods the semantic conventions name; any other is `_OTHER`, with the
/// method as written in `http.request.method_original`, which keeps the
/// attribute's cardinality bounded when scanners send garbage.
const KNOWN_METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "QUERY",
];

/// Sets the method, target and protocol attributes from a request line
/// (`GET /path?q HTTP/1.1`). A request that is not three (or, HTTP/0.9, two)
/// space-separated parts, such as the `\x16\x03...` of a TLS handshake sent to a
/// plain-HTTP port, sets nothing: the line is still an access-log line, and its
/// status still counts.
pub(super) fn request_line(attributes: &mut Attributes, request: &str) {
    let mut parts = request.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let protocol = parts.next();
    if parts.next().is_some() || is_absent(method) || target.is_empty() {
        return;
    }
    if !method
        .bytes()
        .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
    {
        return;
    }
    request_method(attributes, method);
    request_target(attributes, target);
    if let Some(version) = protocol.and_then(protocol_version) {
        attributes.text("network.protocol.version", version);
    }
}

/// Sets `http.request.method` (and `http.request.method_original` for `_OTHER`).
pub(super) fn request_method(attributes: &mut Attributes, method: &str) {
    if KNOWN_METHODS.contains(&method) {
        attributes.text("http.request.method", method);
    } else if !is_absent(method) {
        attributes.text("http.request.method", "_OTHER");
        attributes.text("http.request.method_original", method);
    }
}

/// `1.1` from `HTTP/1.1`; `2` from `HTTP/2.0` or `HTTP/2`, `3` likewise (the
/// semantic conventions' spelling).
pub(super) fn protocol_version(protocol: &str) -> Option<&str> {
    let version = protocol.strip_prefix("HTTP/")?;
    let version = match version {
        "2.0" => "2",
        "3.0" => "3",
        other => other,
    };
    let well_formed = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    well_formed.then_some(version)
}

/// Sets `url.path` and `url.query` from an origin-form target (`/a?b`), and
/// `url.scheme`, `server.address` and `server.port` too from an absolute-form
/// one (`https://host:443/a?b`, as proxies and the load balancers log it).
pub(super) fn request_target(attributes: &mut Attributes, target: &str) {
    let target = target.split_once('#').map_or(target, |(before, _)| before);
    let path_and_query = match target.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            attributes.text("url.scheme", &scheme.to_ascii_lowercase());
            let (authority, path) = match rest.find(['/', '?']) {
                Some(at) => rest.split_at(at),
                None => (rest, ""),
            };
            authority_attributes(attributes, authority);
            path
        }
        _ if target.starts_with('/') => target,
        // `*` (OPTIONS) and `host:port` (CONNECT) name no path.
        _ => return,
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    attributes.text("url.path", if path.is_empty() { "/" } else { path });
    if let Some(query) = query {
        attributes.text("url.query", query);
    }
}

/// Sets `server.address` and, when written, `server.port` from an authority
/// (`host`, `host:port`, `[v6]:port`; any `user@` dropped).
pub(super) fn authority_attributes(attributes: &mut Attributes, authority: &str) {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = split_authority(authority);
    attributes.text("server.address", host);
    if let Some(port) = port {
        attributes.int("server.port", port);
    }
}

/// `host` and port of an authority in which the port is optional: a colon
/// after an IPv6 address in brackets, or the only colon, starts the port.
pub(super) fn split_authority(authority: &str) -> (&str, Option<i64>) {
    if let Some(bracketed) = authority.strip_prefix('[') {
        return match bracketed.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':').and_then(parse_port)),
            None => (authority, None),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => match parse_port(port) {
            Some(port) => (host, Some(port)),
            None => (host, None),
        },
        _ => (authority, None),
    }
}

/// Address and port of a socket address that always has a port: `1.2.3.4:80`,
/// `[2001:db8::1]:80`, or, as HAProxy and the load balancers write IPv6,
/// `2001:db8::1:80` (the last colon starts the port).
pub(super) fn split_socket(socket: &str) -> Option<(&str, i64)> {
    if let Some(bracketed) = socket.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']')?;
        return Some((host, parse_port(rest.strip_prefix(':')?)?));
    }
    let (host, port) = socket.rsplit_once(':')?;
    if host.is_empty() {
        return None;
    }
    Some((host, parse_port(port)?))
}

fn parse_port(text: &str) -> Option<i64> {
    parse_int(text).filter(|port| *port <= 65535)
}

/// Sets `client.address` and `client.port` from a socket address.
pub(super) fn client_socket(attributes: &mut Attributes, socket: &str) -> bool {
    match split_socket(socket) {
        Some((address, port)) => {
            attributes.text("client.address", address);
            attributes.int("client.port", port);
            true
        }
        None => false,
    }
}

/// Sets `client.address` from an address written without a port.
pub(super) fn client_address(attributes: &mut Attributes, address: &str) {
    attributes.text("client.address", address);
}
