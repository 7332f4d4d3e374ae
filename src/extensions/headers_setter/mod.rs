//! `headers_setter` — sets headers on the requests an exporter sends, from the
//! metadata of the request that brought the data in, as the Collector's
//! headers_setter extension. A client authenticator: an exporter uses it with
//! `auth: {authenticator: headers_setter}`.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Each entry of `headers` has a `key` and one of:
//! - `value`: a fixed value;
//! - `from_context`: a metadata key of the incoming request (`x-tenant`, or
//!   `metadata.x-tenant`; `auth.username` for what its authenticator reported). The
//!   receiver protocol must have `include_metadata: true`. With several values the
//!   first is sent. When the data has no such metadata, `default_value` is sent if
//!   set; otherwise the header is left alone.
//!
//! `action` is `upsert` (default: set it), `insert` (only if the request does not
//! have it yet, e.g. from the exporter's `headers`), `update` (only if it does) or
//! `delete` (remove it; no value needed).
//!
//! Metadata reaches the exporter only when the batch it sends came from one request:
//! a `batch` processor merges requests and drops it (see
//! [`crate::processors::batch`]); so does a persistent queue (`sending_queue.storage`),
//! which stores the data only.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Deserialize;

use crate::component::auth::{AuthSides, ClientAuthError, HeaderAction, HeaderChange};
use crate::component::registry::ExtensionFactory;
use crate::component::{
    BoxFuture, BuildError, ClientAuthenticator, ComponentId, Extension, ExtensionConfig, ExtensionContext, Lifecycle,
};
use crate::confmap::{parse_block, ConfigError, RawValue, Validate};
use crate::pdata::ClientInfo;

/// Registry entry.
pub const FACTORY: ExtensionFactory = ExtensionFactory {
    type_name: "headers_setter",
    aliases: &[],
    signals: &[],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExtensionConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<HeadersSetterConfig>(value)?))
}

/// `extensions.headers_setter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadersSetterConfig {
    /// The headers, applied in order.
    pub headers: Vec<HeaderConfig>,
}

/// One entry of `headers`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderConfig {
    /// The header name.
    pub key: String,
    /// A fixed value.
    #[serde(default)]
    pub value: Option<String>,
    /// The request metadata key to copy.
    #[serde(default)]
    pub from_context: Option<String>,
    /// The value when `from_context` finds nothing.
    #[serde(default)]
    pub default_value: Option<String>,
    /// How the header is set (default `upsert`).
    #[serde(default)]
    pub action: HeaderAction,
}

impl Validate for HeadersSetterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.headers.is_empty() {
            errors.push(ConfigError::new("headers", "at least one header is required"));
        }
        for (i, header) in self.headers.iter().enumerate() {
            let at = |field: &str| format!("headers[{i}].{field}");
            if http::HeaderName::from_bytes(header.key.as_bytes()).is_err() {
                errors.push(ConfigError::new(
                    at("key"),
                    format!("{:?} is not a valid header name", header.key),
                ));
            }
            let sources = usize::from(header.value.is_some()) + usize::from(header.from_context.is_some());
            match (header.action, sources) {
                (HeaderAction::Delete, 0) => {}
                (HeaderAction::Delete, _) => {
                    errors.push(ConfigError::new(at("action"), "delete takes no value or from_context"));
                }
                (_, 0) => errors.push(ConfigError::new(at("value"), "missing: set value or from_context")),
                (_, 2) => errors.push(ConfigError::new(
                    at("value"),
                    "set either value or from_context, not both",
                )),
                _ => {}
            }
            if header.default_value.is_some() && header.from_context.is_none() {
                errors.push(ConfigError::new(at("default_value"), "only used with from_context"));
            }
            for (field, text) in [("value", &header.value), ("default_value", &header.default_value)] {
                if text.as_ref().is_some_and(|t| http::HeaderValue::from_str(t).is_err()) {
                    errors.push(ConfigError::new(at(field), "is not a valid header value"));
                }
            }
        }
        errors
    }
}

/// A compiled entry.
struct Setter {
    name: http::HeaderName,
    source: Source,
    action: HeaderAction,
}

enum Source {
    Fixed(http::HeaderValue),
    Context {
        key: String,
        default: Option<http::HeaderValue>,
    },
    Nothing,
}

impl ExtensionConfig for HeadersSetterConfig {
    fn build(&self, _id: &ComponentId, _ctx: &ExtensionContext) -> Result<Arc<dyn Extension>, BuildError> {
        let mut setters = Vec::new();
        for (i, header) in self.headers.iter().enumerate() {
            let at = |field: &str| format!("headers[{i}].{field}");
            let name = http::HeaderName::from_bytes(header.key.as_bytes()).map_err(|e| BuildError::at(at("key"), e))?;
            let value = |text: &String, field: &str| {
                http::HeaderValue::from_str(text).map_err(|e| BuildError::at(at(field), e))
            };
            let source = match (&header.value, &header.from_context) {
                (Some(text), _) => Source::Fixed(value(text, "value")?),
                (None, Some(key)) => Source::Context {
                    key: key.clone(),
                    default: header
                        .default_value
                        .as_ref()
                        .map(|d| value(d, "default_value"))
                        .transpose()?,
                },
                (None, None) => Source::Nothing,
            };
            setters.push(Setter {
                name,
                source,
                action: header.action,
            });
        }
        Ok(Arc::new(HeadersSetter(Arc::new(Setters(setters)))))
    }

    fn authenticator(&self) -> AuthSides {
        AuthSides {
            server: false,
            client: true,
        }
    }
}

/// The running extension.
pub struct HeadersSetter(Arc<Setters>);

struct Setters(Vec<Setter>);

impl Setters {
    fn changes(&self, client: Option<&ClientInfo>) -> Vec<HeaderChange> {
        self.0
            .iter()
            .filter_map(|setter| {
                let value = match &setter.source {
                    Source::Fixed(value) => value.clone(),
                    Source::Nothing => http::HeaderValue::from_static(""),
                    Source::Context { key, default } => {
                        let found = client
                            .and_then(|c| c.lookup(key).first().copied())
                            .and_then(|text| http::HeaderValue::from_str(text).ok());
                        found.or_else(|| default.clone())?
                    }
                };
                Some(HeaderChange {
                    name: setter.name.clone(),
                    value,
                    action: setter.action,
                })
            })
            .collect()
    }
}

impl ClientAuthenticator for Setters {
    fn headers<'a>(
        &'a self,
        client: Option<&'a ClientInfo>,
    ) -> BoxFuture<'a, Result<Vec<HeaderChange>, ClientAuthError>> {
        Box::pin(async move { Ok(self.changes(client)) })
    }
}

impl Extension for HeadersSetter {
    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        Some(self.0.clone())
    }
}

impl Lifecycle for HeadersSetter {}
