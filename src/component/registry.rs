//! Factories: how a component type's config block is parsed. The list of every
//! factory sloop ships is one layer up, in [`crate::components`].

use super::{ConnectorConfig, ExporterConfig, ExtensionConfig, ProcessorConfig, ReceiverConfig, Signal};
use crate::confmap::{ConfigError, RawValue};

/// How to parse one component type's config.
pub struct Factory<C: ?Sized> {
    /// The `type` part of component ids (`otlp_grpc`).
    pub type_name: &'static str,
    /// Other accepted type names (`otlp` for `otlp_grpc`, as in the Collector).
    pub aliases: &'static [&'static str],
    /// The signals the component handles.
    pub signals: &'static [Signal],
    /// Parses and validates the component's config block. Error paths are relative
    /// to the block.
    pub parse: fn(&RawValue) -> Result<Box<C>, Vec<ConfigError>>,
    /// One example of the component's config as a user writes it, in YAML: the whole
    /// `<id>: ...` mapping (one key, `type` or `type/name`), as it goes under its
    /// section (`processors:`). It is the component folder's `example.yaml`
    /// (`include_str!`), shown in the component's module docs and in the README's
    /// component reference, and run by the contract test (`components::contract`)
    /// for every registered component. So that the test can run it, an example
    /// follows three conventions:
    /// - addresses are loopback, `localhost:<port>` or `127.0.0.1:<port>`; the test
    ///   gives each distinct port a free one chosen at run time (`127.0.0.1:<free>`),
    ///   so an exporter's backend is absent and a receiver listens where the test
    ///   sends;
    /// - files the component writes live under `/var/lib/sloop/`; the test moves that
    ///   prefix to a fresh temporary directory;
    /// - `${env:NAME}` references are expanded with a placeholder value, so use them
    ///   for strings (API keys), not for numbers.
    pub example: &'static str,
}

impl<C: ?Sized> Factory<C> {
    /// Whether `name` selects this factory.
    pub fn answers_to(&self, name: &str) -> bool {
        self.type_name == name || self.aliases.contains(&name)
    }
}

/// A receiver type.
pub type ReceiverFactory = Factory<dyn ReceiverConfig>;
/// A processor type.
pub type ProcessorFactory = Factory<dyn ProcessorConfig>;
/// An exporter type.
pub type ExporterFactory = Factory<dyn ExporterConfig>;
/// An extension type.
pub type ExtensionFactory = Factory<dyn ExtensionConfig>;
/// A connector type; `signals` are those it takes (as an exporter).
pub type ConnectorFactory = Factory<dyn ConnectorConfig>;

/// Finds the factory for a type name among `factories`.
pub fn find<'a, C: ?Sized>(factories: &'a [Factory<C>], name: &str) -> Option<&'a Factory<C>> {
    factories.iter().find(|f| f.answers_to(name))
}

/// All names (types and aliases) of `factories`, for "did you mean" hints.
pub fn names<C: ?Sized>(factories: &[Factory<C>]) -> Vec<&'static str> {
    factories
        .iter()
        .flat_map(|f| std::iter::once(f.type_name).chain(f.aliases.iter().copied()))
        .collect()
}
