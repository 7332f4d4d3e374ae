//! `resource` processor config, with the Collector's keys.

use serde::Deserialize;

use crate::confmap::{ConfigError, Validate};
use crate::processors::attributes::{ActionConfig, Actions};

/// `processors.resource`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// The actions, applied in order to every resource's attributes (the same actions
    /// as the attributes processor's).
    #[serde(default)]
    pub attributes: Vec<ActionConfig>,
}

impl Validate for ResourceConfig {
    fn validate(&self) -> Vec<ConfigError> {
        Actions::compile("attributes", &self.attributes)
            .err()
            .unwrap_or_default()
    }
}
