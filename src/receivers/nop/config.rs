//! `nop` receiver config: it has no keys.

use serde::Deserialize;

use crate::confmap::{ConfigError, Validate};

/// `receivers.nop`: no keys, as the Collector's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NopReceiverConfig {}

impl Validate for NopReceiverConfig {
    fn validate(&self) -> Vec<ConfigError> {
        Vec::new()
    }
}
