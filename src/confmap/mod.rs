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

/// The top-level sections; environment overrides outside them are ignored.
const SECTIONS: [&str; 6] = [
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
pub fn parse_block<T: DeserializeOwned + Validate>(value: &RawValue) -> Result<T, Vec<ConfigError>> {
    let empty;
    let value = match value {
        Value::Empty(..) => {
            empty = Value::Dict(Tag::Default, Dict::new());
            &empty
        }
        other => other,
    };
    let parsed: T = value.deserialize().map_err(ConfigError::from_figment)?;
    let errors = parsed.validate();
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
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

/// Reads, merges and expands the config files and `SLOOP_` environment overrides.
pub fn load(paths: &[PathBuf]) -> Result<Dict, ConfigErrors> {
    load_with_env(paths, &|name| std::env::var(name).ok(), Env::prefixed("SLOOP_"))
}

pub(crate) fn load_with_env(
    paths: &[PathBuf],
    lookup: &dyn Fn(&str) -> Option<String>,
    env: Env,
) -> Result<Dict, ConfigErrors> {
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
    if errors.is_empty() {
        Ok(dict)
    } else {
        Err(ConfigErrors(errors))
    }
}
