//! `nop` exporter config: it has no keys.

use serde::Deserialize;

use crate::confmap::{ConfigError, Validate};

/// `exporters.nop`: no keys, as the Collector's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NopExporterConfig {}

impl Validate for NopExporterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        Vec::new()
    }
}
