//! `forward` connector config: it has no settings, as in the Collector.

use serde::Deserialize;

use crate::confmap::Validate;

/// `connectors.forward`: an empty block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {}

impl Validate for ForwardConfig {}
