//! The W3C `tracestate` header, as far as consistent probability sampling needs it:
//! the OpenTelemetry entry `ot=th:<threshold>;rv:<randomness>` is parsed and
//! rewritten, other vendors' entries are kept as they are. Malformed input is an
//! error, never a panic.

/// Why a tracestate could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tracestate: {0}")]
pub struct TraceStateError(pub &'static str);

/// Most list members W3C allows.
const MAX_MEMBERS: usize = 32;

/// A parsed tracestate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceState {
    /// The `ot` entry's `key:value` pairs, in order (`th` and `rv` included).
    ot: Vec<(String, String)>,
    /// Every other member, verbatim (`vendor=value`), in order.
    others: Vec<String>,
}

fn valid_key(key: &str) -> bool {
    // Simple keys and multi-tenant `tenant@system` keys, lowercase.
    !key.is_empty()
        && key.len() <= 256
        && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b))
}

fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A `th` value: 1 to 14 hex digits, right-padded with zeros to 56 bits.
pub fn parse_threshold(th: &str) -> Option<u64> {
    if th.is_empty() || th.len() > 14 || !is_hex(th) {
        return None;
    }
    let value = u64::from_str_radix(th, 16).ok()?;
    Some(value << (4 * (14 - th.len())))
}

/// An `rv` value: exactly 14 hex digits.
pub fn parse_randomness(rv: &str) -> Option<u64> {
    if rv.len() != 14 || !is_hex(rv) {
        return None;
    }
    u64::from_str_radix(rv, 16).ok()
}

impl TraceState {
    /// Parses a tracestate; an empty string is an empty state.
    pub fn parse(text: &str) -> Result<TraceState, TraceStateError> {
        let mut state = TraceState::default();
        let mut seen_ot = false;
        let mut members = 0;
        for member in text.split(',').map(|m| m.trim_matches([' ', '\t'])) {
            if member.is_empty() {
                continue;
            }
            members += 1;
            if members > MAX_MEMBERS {
                return Err(TraceStateError("more than 32 list members"));
            }
            let Some((key, value)) = member.split_once('=') else {
                return Err(TraceStateError("a list member without '='"));
            };
            if !valid_key(key) || !valid_value(value) {
                return Err(TraceStateError("a malformed list member"));
            }
            if key != "ot" {
                state.others.push(member.to_string());
                continue;
            }
            if seen_ot {
                return Err(TraceStateError("the ot entry appears twice"));
            }
            seen_ot = true;
            for pair in value.split(';') {
                let Some((k, v)) = pair.split_once(':') else {
                    return Err(TraceStateError("an ot field without ':'"));
                };
                if k.is_empty() || !k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
                    return Err(TraceStateError("a malformed ot field name"));
                }
                let valid = match k {
                    "th" => parse_threshold(v).is_some(),
                    "rv" => parse_randomness(v).is_some(),
                    _ => v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b)),
                };
                if !valid {
                    return Err(TraceStateError(match k {
                        "th" => "th is not 1 to 14 hex digits",
                        "rv" => "rv is not 14 hex digits",
                        _ => "a malformed ot field value",
                    }));
                }
                state.ot.push((k.to_string(), v.to_string()));
            }
        }
        Ok(state)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.ot.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn set(&mut self, key: &str, value: String) {
        match self.ot.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.ot.push((key.to_string(), value)),
        }
    }

    /// The rejection threshold `th`, if present.
    pub fn threshold(&self) -> Option<u64> {
        self.get("th").and_then(parse_threshold)
    }

    /// The explicit randomness `rv`, if present.
    pub fn randomness(&self) -> Option<u64> {
        self.get("rv").and_then(parse_randomness)
    }

    /// Sets `th` (trailing zeros removed, `0` for always).
    pub fn set_threshold(&mut self, threshold: u64) {
        self.set("th", crate::pdata::sampling::encode_threshold(threshold));
    }

    /// Sets `rv` (14 hex digits).
    pub fn set_randomness(&mut self, randomness: u64) {
        self.set(
            "rv",
            format!("{:014x}", randomness & (crate::pdata::sampling::MAX_THRESHOLD - 1)),
        );
    }

    /// Removes `th`.
    pub fn clear_threshold(&mut self) {
        self.ot.retain(|(k, _)| k != "th");
    }

    /// The header value: the `ot` entry first (as W3C asks of a modified entry),
    /// with `th` and `rv` leading it, then every other member unchanged.
    pub fn serialize(&self) -> String {
        let mut out = String::new();
        if !self.ot.is_empty() {
            out.push_str("ot=");
            let ordered = ["th", "rv"]
                .iter()
                .filter_map(|key| self.ot.iter().find(|(k, _)| k == key))
                .chain(self.ot.iter().filter(|(k, _)| k != "th" && k != "rv"));
            for (i, (k, v)) in ordered.enumerate() {
                if i > 0 {
                    out.push(';');
                }
                out.push_str(k);
                out.push(':');
                out.push_str(v);
            }
        }
        for member in &self.others {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(member);
        }
        out
    }
}
