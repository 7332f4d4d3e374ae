//! `${env:VAR}` and `${env:VAR:-default}` expansion inside config values, as in the
//! Collector; `${VAR}` and `${VAR:-default}` are the same (`env` is the Collector's
//! default scheme). `$$` is a literal `$`. When a whole value is a single reference, the
//! result is typed like a YAML scalar (`${env:PORT}` can feed an integer field).
//!
//! Unlike the Collector, an unset variable without a default is an error rather than
//! an empty string: a silently empty API key turns into dropped data at the backend.
//! Write `${env:VAR:-}` for an explicit empty default.

use figment::value::{Dict, Num, Tag, Value};

use super::ConfigError;

/// Expands every string value in `dict` in place, collecting errors with their paths.
pub fn expand_dict(
    dict: &mut Dict,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    for (key, value) in dict.iter_mut() {
        let child = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        expand_value(value, &child, lookup, errors);
    }
}

fn expand_value(value: &mut Value, path: &str, lookup: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<ConfigError>) {
    match value {
        Value::String(tag, text) if text.contains('$') => match expand_str(text, lookup) {
            Ok(Expanded {
                text: new,
                whole_reference,
            }) => {
                *value = if whole_reference {
                    typed(*tag, new)
                } else {
                    Value::String(*tag, new)
                };
            }
            Err(message) => errors.push(ConfigError::new(path, message)),
        },
        Value::Dict(_, dict) => expand_dict(dict, path, lookup, errors),
        Value::Array(_, items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_value(item, &format!("{path}[{i}]"), lookup, errors);
            }
        }
        _ => {}
    }
}

struct Expanded {
    text: String,
    whole_reference: bool,
}

fn expand_str(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut references = 0;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let end = body_start
            .find('}')
            .ok_or_else(|| format!("unterminated reference in {text:?}: missing '}}'"))?;
        let body = &body_start[..end];
        // `${env:NAME}`, or `${NAME}` with the default scheme; any other scheme
        // (`file:`, `http:`, `yaml:`) is not something sloop reads.
        let reference = match body.strip_prefix("env:") {
            Some(reference) => reference,
            None if body.split_once(":-").map_or(body, |(name, _)| name).contains(':') => {
                return Err(format!(
                    "unsupported reference ${{{body}}} in {text:?}: only ${{env:NAME}}, ${{NAME}} and their :-default forms are supported"
                ))
            }
            None => body,
        };
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid environment variable name {name:?} in {text:?}"));
        }
        match (lookup(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                    "environment variable {name} is not set (write ${{env:{name}:-default}} to allow that)"
                ))
            }
        }
        references += 1;
        rest = &body_start[end + 1..];
    }
    out.push_str(rest);
    let whole_reference = references == 1 && text.starts_with("${") && text.ends_with('}');
    Ok(Expanded {
        text: out,
        whole_reference,
    })
}

/// Types a fully substituted value like a YAML scalar: bool, integer, float or string.
fn typed(tag: Tag, text: String) -> Value {
    match text.as_str() {
        "true" => return Value::Bool(tag, true),
        "false" => return Value::Bool(tag, false),
        _ => {}
    }
    if let Ok(n) = text.parse::<u64>() {
        return Value::Num(tag, Num::U64(n));
    }
    if let Ok(n) = text.parse::<i64>() {
        return Value::Num(tag, Num::I64(n));
    }
    if text.contains('.') {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Num(tag, Num::F64(f));
        }
    }
    Value::String(tag, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "API_KEY" => Some("secret".into()),
            "PORT" => Some("4317".into()),
            _ => None,
        }
    }

    fn expand(text: &str) -> Result<String, String> {
        expand_str(text, &env).map(|e| e.text)
    }

    #[test]
    fn expands_references_and_defaults() {
        assert_eq!(expand("Bearer ${env:API_KEY}").unwrap(), "Bearer secret");
        assert_eq!(expand("${env:MISSING:-fallback}").unwrap(), "fallback");
        assert_eq!(expand("${env:MISSING:-}").unwrap(), "");
        assert_eq!(expand("${env:API_KEY:-unused}").unwrap(), "secret");
        assert_eq!(expand("a$$b").unwrap(), "a$b");
        assert_eq!(expand("host:${env:PORT}").unwrap(), "host:4317");
        assert_eq!(expand("cost $5").unwrap(), "cost $5");
        // The Collector's default scheme is env.
        assert_eq!(expand("Bearer ${API_KEY}").unwrap(), "Bearer secret");
        assert_eq!(expand("${MISSING:-a:b}").unwrap(), "a:b");
        assert_eq!(expand("$${API_KEY}").unwrap(), "${API_KEY}");
    }

    #[test]
    fn reports_bad_references() {
        assert!(expand("${env:MISSING}").unwrap_err().contains("MISSING is not set"));
        assert!(expand("${env:OOPS").unwrap_err().contains("unterminated"));
        assert!(expand("${file:/x}").unwrap_err().contains("unsupported reference"));
        assert!(expand("${NOPE}").unwrap_err().contains("NOPE is not set"));
        assert!(expand("${env:bad-name}")
            .unwrap_err()
            .contains("invalid environment variable name"));
    }

    #[test]
    fn whole_references_are_typed_and_errors_carry_paths() {
        let mut dict = Dict::new();
        dict.insert("port".into(), Value::from("${env:PORT}"));
        dict.insert("name".into(), Value::from("p${env:PORT}"));
        dict.insert("list".into(), Value::from(vec![Value::from("${env:NOPE}")]));
        let mut errors = Vec::new();
        expand_dict(&mut dict, "root", &env, &mut errors);
        assert_eq!(dict["port"], Value::from(4317u64));
        assert_eq!(dict["name"], Value::from("p4317"));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "root.list[0]");
    }
}
