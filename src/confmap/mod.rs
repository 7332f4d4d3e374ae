//! Reading config files: loading and merging YAML, `SLOOP_` environment overrides,
//! `${env:VAR}` expansion, durations, and the strict parsing every component block
//! goes through, with errors that carry their path. Named after the Collector's
//! `confmap`.
//!
//! This is the bottom of the config stack: components parse their own blocks with
//! [`parse_block`]; compiling a whole file into a checked plan is [`crate::config`]'s
//! job, one layer above the components.

mod duration;
mod error;
mod expand;

use std::path::PathBuf;

use figment::providers::{Env, Format};
use figment::value::{Dict, Tag, Value};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub use duration::{deserialize as deserialize_duration, format as format_duration, parse as parse_duration};
pub use error::{did_you_mean, ConfigError, ConfigErrors, Locate};
pub use expand::expand_dict;

/// An unparsed config value (a YAML node after merging and expansion).
pub type RawValue = Value;

/// The top-level sections of a config file; environment overrides outside them
/// are ignored.
pub const SECTIONS: [&str; 6] = [
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "extensions",
    "service",
];

/// Checks a component's config beyond what its types say (ranges, combinations).
pub trait Validate {
    /// Problems found, with paths relative to the component's block.
    fn validate(&self) -> Vec<ConfigError> {
        Vec::new()
    }
}

/// Parses a component block into `T` strictly, then runs its checks.
/// An empty block (`batch:`) parses as `{}`, so every field takes its default.
/// Every problem of the block is reported, not only the first (see
/// [`deserialize_all`]); its checks run once the keys it has parsed.
pub fn parse_block<T: DeserializeOwned + Validate>(value: &RawValue) -> Result<T, Vec<ConfigError>> {
    let (parsed, mut errors) = deserialize_all::<T>(value);
    if let Some(parsed) = &parsed {
        // A key left out for a reported mistake is not reported again as missing
        // or empty by the block's own checks.
        let follows = |check: &ConfigError| {
            errors.iter().any(|cause| {
                !cause.path.is_empty()
                    && (check.path == cause.path
                        || check.path.starts_with(&format!("{}.", cause.path))
                        || check.path.starts_with(&format!("{}[", cause.path)))
            })
        };
        let checks: Vec<ConfigError> = parsed.validate().into_iter().filter(|e| !follows(e)).collect();
        errors.extend(checks);
    }
    match parsed {
        Some(parsed) if errors.is_empty() => Ok(parsed),
        _ => Err(errors),
    }
}

/// Deserializes `value` into `T`, collecting every error rather than the first.
///
/// serde stops at the first problem, so a block with three unknown keys would take
/// three runs to fix. Here each key that is in the way (unknown, or of the wrong
/// type or value) is reported, removed from a copy of the value, and the rest
/// deserialized again, until it parses or nothing more can be removed. A required
/// field removed that way is not reported again as missing. The result is `T` when
/// what remained parsed (the errors say what was left out).
pub fn deserialize_all<T: DeserializeOwned>(value: &RawValue) -> (Option<T>, Vec<ConfigError>) {
    let empty = Value::Dict(Tag::Default, Dict::new());
    let mut current = match value {
        Value::Empty(..) => empty,
        other => other.clone(),
    };
    let mut errors = Vec::new();
    let mut removed: Vec<Vec<String>> = Vec::new();
    // Each round removes at least one key, so the loop ends; the bound keeps a
    // pathological file from costing more than a few dozen parses.
    for _ in 0..64 {
        let failure = match current.deserialize::<T>() {
            Ok(parsed) => return (Some(parsed), errors),
            Err(failure) => failure,
        };
        let mut progressed = false;
        for error in failure {
            if let figment::error::Kind::MissingField(field) = &error.kind {
                let mut path = error.path.clone();
                if path.last().map(String::as_str) != Some(field.as_ref()) {
                    path.push(field.to_string());
                }
                if removed.contains(&path) {
                    continue;
                }
            }
            errors.push(ConfigError::from_one(&error));
            let removable = matches!(
                error.kind,
                figment::error::Kind::UnknownField(..)
                    | figment::error::Kind::InvalidType(..)
                    | figment::error::Kind::InvalidValue(..)
                    | figment::error::Kind::UnknownVariant(..)
                    | figment::error::Kind::InvalidLength(..)
            );
            if removable && remove_at(&mut current, &error.path) {
                removed.push(error.path.clone());
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    (None, errors)
}

/// Removes the key at `path` (map keys from the root) from `value`; false when
/// there is none to remove.
fn remove_at(value: &mut Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = value;
    for key in parents {
        node = match node {
            Value::Dict(_, dict) => match dict.get_mut(key) {
                Some(child) => child,
                None => return false,
            },
            _ => return false,
        };
    }
    match node {
        Value::Dict(_, dict) => dict.remove(last).is_some(),
        _ => false,
    }
}

/// Serde helper for the Collector's "present but empty means enabled with defaults"
/// blocks (`protocols: { grpc: }`): a null value becomes `Some(T::default())`.
pub fn deserialize_present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(deserializer)?.unwrap_or_default()))
}

/// Serde helper for nested settings blocks (`telemetry:`, `sending_queue:`): a block
/// left empty in YAML means "all defaults", as in the Collector.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Serde helper for enum values the Collector reads case-insensitively (`level:
/// INFO`, `verbosity: Detailed`): the text is lowercased, then matched against the
/// enum's lowercase names, so an unknown value still gets the usual "did you mean".
pub fn case_insensitive<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::de::IntoDeserializer;
    let text = String::deserialize(deserializer)?.to_lowercase();
    T::deserialize(text.into_deserializer())
}

/// [`case_insensitive`] for an optional value.
pub fn case_insensitive_option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::de::IntoDeserializer;
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) => T::deserialize(text.to_lowercase().into_deserializer()).map(Some),
    }
}

/// Reads, merges and expands the config files and `SLOOP_` environment overrides.
/// Files that cannot be read are the error; references that cannot be expanded are
/// returned beside the values (and left as written), so that the rest of the file
/// is still checked and every problem reported at once.
pub fn load(paths: &[PathBuf]) -> Result<(Dict, Vec<ConfigError>), ConfigErrors> {
    load_with_env(paths, &|name| std::env::var(name).ok(), Env::prefixed("SLOOP_"))
}

pub(crate) fn load_with_env(
    paths: &[PathBuf],
    lookup: &dyn Fn(&str) -> Option<String>,
    env: Env,
) -> Result<(Dict, Vec<ConfigError>), ConfigErrors> {
    if paths.is_empty() {
        return Err(ConfigErrors(vec![ConfigError::new(
            "",
            "no config file given (use --config FILE)",
        )]));
    }
    let mut figment = Figment::new();
    let mut errors = Vec::new();
    for path in paths {
        if !path.is_file() {
            errors.push(ConfigError::new("", format!("{}: no such config file", path.display())));
        }
        figment = figment.merge(serde_saphyr::figment::Yaml::file_exact(path));
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    // Filter before splitting: the key still reads `SERVICE__TELEMETRY__...` here.
    let env = env
        .filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            SECTIONS.iter().any(|s| key.starts_with(&format!("{s}__")))
        })
        .split("__");
    figment = figment.merge(env);
    let mut dict: Dict = figment.extract().map_err(|e| {
        ConfigErrors(
            ConfigError::from_figment(e)
                .into_iter()
                .map(|mut e| {
                    if e.path.is_empty() {
                        e.message = format!("cannot read config: {}", e.message);
                    }
                    e
                })
                .collect(),
        )
    })?;
    expand::expand_dict(&mut dict, "", lookup, &mut errors);
    Ok((dict, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Block {
        #[serde(default)]
        items: Vec<u32>,
        #[serde(default)]
        name: String,
    }

    impl Validate for Block {
        fn validate(&self) -> Vec<ConfigError> {
            let mut errors = Vec::new();
            if self.items.is_empty() {
                errors.push(ConfigError::new("items", "at least one item is required"));
            }
            if self.name.is_empty() {
                errors.push(ConfigError::new("name", "required"));
            }
            errors
        }
    }

    fn raw(yaml: &str) -> RawValue {
        let dict: Dict = Figment::from(serde_saphyr::figment::Yaml::string(yaml))
            .extract()
            .unwrap();
        Value::from(dict)
    }

    fn errors(yaml: &str) -> Vec<String> {
        parse_block::<Block>(&raw(yaml))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_unknown_key_and_every_bad_value_of_a_block_is_reported() {
        let found = errors("items: [1]\nname: x\nfirst: 1\nsecond: 2\nthird: 3");
        assert_eq!(
            found,
            [
                "first: unknown field, expected one of: items, name",
                "second: unknown field, expected one of: items, name",
                "third: unknown field, expected one of: items, name"
            ]
        );
    }

    #[test]
    fn a_value_left_out_for_its_mistake_is_not_reported_again_by_the_checks() {
        // `items` has the wrong type: reported once, not again as empty; the other
        // check (name) still runs.
        let found = errors("items: lots\nextra: 1");
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().any(|e| e.starts_with("items: invalid type")), "{found:?}");
        assert!(found.iter().any(|e| e.starts_with("extra: unknown field")), "{found:?}");
        assert!(found.contains(&"name: required".to_string()), "{found:?}");
    }
}
