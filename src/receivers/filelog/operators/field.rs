//! Field paths, the stanza syntax every operator's `parse_from`, `parse_to`,
//! `field`, `from` and `to` use: `body`, `body.key`, `body.a.b`,
//! `attributes.key`, `attributes["key.with.dots"]`, `resource.key`, and the older
//! `$body`, `$attributes`, `$resource` spellings. `body` is the record's body;
//! `attributes` and `resource` are the record's and the resource's attribute maps.
//! A path below the root walks nested maps (`KvlistValue`); setting one creates
//! the maps on the way.

use std::borrow::Cow;
use std::fmt;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue, KeyValueList};

use crate::receivers::filelog::entry::Entry;

/// Which part of an entry a path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The record's body.
    Body,
    /// The record's attributes.
    Attributes,
    /// The resource's attributes.
    Resource,
}

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Where it starts.
    pub root: Root,
    /// The keys below the root, outermost first; empty for the root itself.
    pub keys: Vec<String>,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.root {
            Root::Body => "body",
            Root::Attributes => "attributes",
            Root::Resource => "resource",
        })?;
        for key in &self.keys {
            if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') && !key.is_empty() {
                write!(f, ".{key}")?;
            } else {
                write!(f, "[{key:?}]")?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Field {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let unprefixed = text.strip_prefix('$').unwrap_or(text);
        let end = unprefixed.find(['.', '[']).unwrap_or(unprefixed.len());
        let root = match &unprefixed[..end] {
            "body" => Root::Body,
            "attributes" => Root::Attributes,
            "resource" => Root::Resource,
            other => {
                return Err(format!(
                    "field {text:?} must start with body, attributes or resource (not {other:?})"
                ))
            }
        };
        let mut keys = Vec::new();
        let mut rest = &unprefixed[end..];
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                if end == 0 {
                    return Err(format!("field {text:?} has an empty key"));
                }
                keys.push(after[..end].to_string());
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
                let Some(quote) = quote else {
                    return Err(format!(
                        "field {text:?}: a key in brackets must be quoted, as [\"key\"]"
                    ));
                };
                let inner = &after[1..];
                let Some(close) = inner.find(quote) else {
                    return Err(format!("field {text:?} has an unterminated quoted key"));
                };
                let Some(after_close) = inner[close + 1..].strip_prefix(']') else {
                    return Err(format!("field {text:?}: expected ] after the quoted key"));
                };
                keys.push(inner[..close].to_string());
                rest = after_close;
            } else {
                return Err(format!("field {text:?}: unexpected {rest:?}"));
            }
        }
        if root != Root::Body && keys.is_empty() && text.contains('[') {
            return Err(format!("field {text:?} has an empty key"));
        }
        Ok(Field { root, keys })
    }
}

impl<'de> serde::Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Field {
    /// `body`.
    pub fn body() -> Self {
        Field {
            root: Root::Body,
            keys: Vec::new(),
        }
    }

    /// `attributes`.
    pub fn attributes() -> Self {
        Field {
            root: Root::Attributes,
            keys: Vec::new(),
        }
    }

    /// The value at this path, if there is one. The `attributes` and `resource`
    /// roots read as a map (copied, as they are not stored as one value).
    pub fn get<'e>(&self, entry: &'e Entry) -> Option<Cow<'e, AnyValue>> {
        match (self.root, self.keys.split_first()) {
            (Root::Body, None) => entry.record.body.as_ref().map(Cow::Borrowed),
            (Root::Body, Some(_)) => descend(entry.record.body.as_ref()?, &self.keys).map(Cow::Borrowed),
            (Root::Attributes | Root::Resource, None) => Some(Cow::Owned(map_value(self.map(entry).to_vec()))),
            (Root::Attributes | Root::Resource, Some((first, rest))) => {
                let value = self.map(entry).iter().find(|kv| &kv.key == first)?.value.as_ref()?;
                descend(value, rest).map(Cow::Borrowed)
            }
        }
    }

    /// Sets the value at this path, creating maps on the way (and replacing a
    /// value that is in the way and not a map). Setting the `attributes` or
    /// `resource` root to a map merges its keys in; to anything else is refused.
    pub fn set(&self, entry: &mut Entry, value: AnyValue) -> Result<(), String> {
        match (self.root, self.keys.split_first()) {
            (Root::Body, None) => {
                entry.record.body = Some(value);
                Ok(())
            }
            (Root::Body, Some((first, rest))) => {
                let body = entry.record.body.get_or_insert_with(|| map_value(Vec::new()));
                let map = as_map_mut(body);
                set_in(map, first, rest, value);
                Ok(())
            }
            (Root::Attributes | Root::Resource, None) => match value.value {
                Some(any_value::Value::KvlistValue(list)) => {
                    let map = self.map_mut(entry);
                    for kv in list.values {
                        match map.iter_mut().find(|existing| existing.key == kv.key) {
                            Some(existing) => existing.value = kv.value,
                            None => map.push(kv),
                        }
                    }
                    Ok(())
                }
                _ => Err(format!("{self} can only be set to a map")),
            },
            (Root::Attributes | Root::Resource, Some((first, rest))) => {
                set_in(self.map_mut(entry), first, rest, value);
                Ok(())
            }
        }
    }

    /// Removes the value at this path and returns it. The `attributes` and
    /// `resource` roots are emptied (and returned as a map).
    pub fn remove(&self, entry: &mut Entry) -> Option<AnyValue> {
        match (self.root, self.keys.split_first()) {
            (Root::Body, None) => entry.record.body.take(),
            (Root::Body, Some((first, rest))) => {
                let map = match entry.record.body.as_mut()?.value.as_mut()? {
                    any_value::Value::KvlistValue(list) => &mut list.values,
                    _ => return None,
                };
                remove_in(map, first, rest)
            }
            (Root::Attributes | Root::Resource, None) => Some(map_value(std::mem::take(self.map_mut(entry)))),
            (Root::Attributes | Root::Resource, Some((first, rest))) => remove_in(self.map_mut(entry), first, rest),
        }
    }

    fn map<'e>(&self, entry: &'e Entry) -> &'e [KeyValue] {
        match self.root {
            Root::Resource => &entry.resource,
            _ => &entry.record.attributes,
        }
    }

    fn map_mut<'e>(&self, entry: &'e mut Entry) -> &'e mut Vec<KeyValue> {
        match self.root {
            Root::Resource => &mut entry.resource,
            _ => &mut entry.record.attributes,
        }
    }
}

/// A map `AnyValue` of `values`.
pub fn map_value(values: Vec<KeyValue>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList { values })),
    }
}

fn descend<'v>(mut value: &'v AnyValue, keys: &[String]) -> Option<&'v AnyValue> {
    for key in keys {
        let Some(any_value::Value::KvlistValue(list)) = value.value.as_ref() else {
            return None;
        };
        value = list.values.iter().find(|kv| &kv.key == key)?.value.as_ref()?;
    }
    Some(value)
}

/// The map inside `value`, which becomes an empty map first if it is not one.
fn as_map_mut(value: &mut AnyValue) -> &mut Vec<KeyValue> {
    if !matches!(value.value, Some(any_value::Value::KvlistValue(_))) {
        *value = map_value(Vec::new());
    }
    match value.value.as_mut() {
        Some(any_value::Value::KvlistValue(list)) => &mut list.values,
        _ => unreachable!("made a map just above"),
    }
}

fn set_in(map: &mut Vec<KeyValue>, key: &str, rest: &[String], value: AnyValue) {
    let index = match map.iter().position(|kv| kv.key == key) {
        Some(index) => index,
        None => {
            map.push(KeyValue {
                key: key.to_string(),
                ..Default::default()
            });
            map.len() - 1
        }
    };
    let slot = &mut map[index].value;
    match rest.split_first() {
        None => *slot = Some(value),
        Some((next, rest)) => {
            let inner = as_map_mut(slot.get_or_insert_with(|| map_value(Vec::new())));
            set_in(inner, next, rest, value);
        }
    }
}

fn remove_in(map: &mut Vec<KeyValue>, key: &str, rest: &[String]) -> Option<AnyValue> {
    let index = map.iter().position(|kv| kv.key == key)?;
    match rest.split_first() {
        None => map.remove(index).value,
        Some((next, rest)) => match map[index].value.as_mut()?.value.as_mut()? {
            any_value::Value::KvlistValue(list) => remove_in(&mut list.values, next, rest),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::filelog::entry::string_value;

    fn field(text: &str) -> Field {
        text.parse().unwrap()
    }

    #[test]
    fn parses_the_stanza_spellings() {
        assert_eq!(field("body"), Field::body());
        assert_eq!(field("$body"), Field::body());
        assert_eq!(field("attributes.http.method").keys, ["http", "method"]);
        assert_eq!(field("attributes[\"http.method\"]").keys, ["http.method"]);
        assert_eq!(field("resource['host.name'].x").keys, ["host.name", "x"]);
        assert_eq!(field("resource['host.name']").to_string(), "resource[\"host.name\"]");
        for bad in ["record.x", "body..x", "body[x]", "body[\"x\"", "attributes[\"x\"]y"] {
            assert!(bad.parse::<Field>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sets_gets_and_removes_nested_values() {
        let mut entry = Entry::from_line("GET /".into(), 1);
        assert_eq!(field("body").get(&entry).unwrap().as_ref(), &string_value("GET /"));
        // Setting below a text body turns it into a map.
        field("body.a.b").set(&mut entry, string_value("x")).unwrap();
        assert_eq!(field("body.a.b").get(&entry).unwrap().as_ref(), &string_value("x"));
        field("attributes[\"url.path\"]")
            .set(&mut entry, string_value("/"))
            .unwrap();
        assert_eq!(entry.record.attributes[0].key, "url.path");
        assert_eq!(field("body.a.b").remove(&mut entry), Some(string_value("x")));
        assert!(field("body.a.b").get(&entry).is_none());
        field("resource")
            .set(
                &mut entry,
                map_value(vec![KeyValue {
                    key: "k".into(),
                    value: Some(string_value("v")),
                    ..Default::default()
                }]),
            )
            .unwrap();
        assert_eq!(field("resource.k").get(&entry).unwrap().as_ref(), &string_value("v"));
        assert!(field("attributes").set(&mut entry, string_value("no")).is_err());
    }
}
