//! The detectors. Each reads only through [`Host`], so tests can fake the
//! environment and files instead of changing the process's.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

use super::config::DetectorKind;

/// Where detectors read from.
pub struct Host<'a> {
    /// Looks up an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Reads a file's contents.
    pub read_file: &'a dyn Fn(&str) -> Option<String>,
    /// `std::env::consts::OS` of the host.
    pub os: &'a str,
}

impl Host<'static> {
    /// The real process environment and file system.
    pub fn real() -> Host<'static> {
        Host {
            env: &real_env,
            read_file: &real_read_file,
            os: std::env::consts::OS,
        }
    }
}

fn real_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn real_read_file(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Runs `detectors` in order; an attribute found by an earlier detector is not
/// replaced by a later one.
pub fn detect(detectors: &[DetectorKind], host: &Host<'_>) -> Vec<KeyValue> {
    let mut found: Vec<KeyValue> = Vec::new();
    for detector in detectors {
        let attributes = match detector {
            DetectorKind::Env => env(host),
            DetectorKind::System => system(host),
            DetectorKind::K8sDownward => k8s_downward(host),
        };
        for (key, value) in attributes {
            if !found.iter().any(|kv| kv.key == key) {
                found.push(string_attribute(key, value));
            }
        }
    }
    found
}

fn string_attribute(key: String, value: String) -> KeyValue {
    KeyValue {
        key,
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

/// The `env` detector: `OTEL_RESOURCE_ATTRIBUTES`.
fn env(host: &Host<'_>) -> Vec<(String, String)> {
    (host.env)("OTEL_RESOURCE_ATTRIBUTES")
        .map(|text| parse_resource_attributes(&text))
        .unwrap_or_default()
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`, values percent-encoded, as in
/// the OpenTelemetry spec). Malformed entries (no `=`, an empty key, a bad
/// percent-escape or invalid UTF-8) are skipped; the rest are kept. Later entries of
/// the same key win.
pub fn parse_resource_attributes(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in text.split(',') {
        if entry.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = entry.split_once('=') else {
            tracing::warn!(entry, "OTEL_RESOURCE_ATTRIBUTES: skipping an entry without '='");
            continue;
        };
        let key = key.trim();
        if key.is_empty() {
            tracing::warn!(entry, "OTEL_RESOURCE_ATTRIBUTES: skipping an entry with an empty key");
            continue;
        }
        let Some(value) = percent_decode(value.trim()) else {
            tracing::warn!(
                key,
                "OTEL_RESOURCE_ATTRIBUTES: skipping a value that is not valid percent-encoding"
            );
            continue;
        };
        match out.iter_mut().find(|(k, _)| k == key) {
            Some(existing) => existing.1 = value,
            None => out.push((key.to_owned(), value)),
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` for a malformed escape or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `system` detector: `host.name` and `os.type`.
fn system(host: &Host<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let from_file = |path: &str| (host.read_file)(path).map(|s| s.trim().to_owned());
    let hostname = (host.env)("HOSTNAME")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| from_file("/etc/hostname").filter(|s| !s.is_empty()))
        .or_else(|| from_file("/proc/sys/kernel/hostname").filter(|s| !s.is_empty()));
    if let Some(name) = hostname {
        out.push(("host.name".to_owned(), name));
    }
    out.push(("os.type".to_owned(), os_type(host.os).to_owned()));
    out
}

/// OpenTelemetry's `os.type` for a `std::env::consts::OS` value.
pub fn os_type(os: &str) -> &str {
    match os {
        "macos" | "ios" => "darwin",
        "dragonfly" => "dragonflybsd",
        "illumos" | "solaris" => "solaris",
        // linux, windows, freebsd, netbsd, openbsd, aix: the same name.
        other => other,
    }
}

/// The `k8s_downward` detector.
fn k8s_downward(host: &Host<'_>) -> Vec<(String, String)> {
    [
        ("K8S_POD_NAME", "k8s.pod.name"),
        ("K8S_NAMESPACE_NAME", "k8s.namespace.name"),
        ("K8S_NODE_NAME", "k8s.node.name"),
        ("K8S_POD_IP", "k8s.pod.ip"),
    ]
    .into_iter()
    .filter_map(|(var, key)| {
        (host.env)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(|v| (key.to_owned(), v))
    })
    .collect()
}
