//! `resource` processor config, with the Collector's keys.

use serde::Deserialize;

use crate::confmap::Validate;
use crate::processors::attributes::ActionConfig;

/// `processors.resource`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// The actions, applied in order to every resource's attributes (the same actions
    /// as the attributes processor's).
    #[serde(default)]
    pub attributes: Vec<ActionConfig>,
}

/// The actions are checked by compiling them, once, in
/// [`CompiledResource::compile`](super::CompiledResource::compile).
impl Validate for ResourceConfig {}
