//! Component IDs: `type[/name]`, as in the Collector.

use std::fmt;

/// A component's identity in config: its type and an optional instance name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    type_name: String,
    name: Option<String>,
}

/// A malformed component id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComponentIdError {
    /// `""` or `"/name"`.
    #[error("the type part of the id is empty")]
    EmptyType,
    /// `"type/"`.
    #[error("the name after '/' is empty")]
    EmptyName,
    /// Characters outside `[A-Za-z0-9_-]` in the type.
    #[error("invalid character {0:?} in component type (use letters, digits and '_')")]
    InvalidType(char),
    /// Whitespace or control characters in the name.
    #[error("invalid character {0:?} in component name")]
    InvalidName(char),
}

impl ComponentId {
    /// Parses `type` or `type/name`.
    pub fn parse(text: &str) -> Result<Self, ComponentIdError> {
        let (type_name, name) = match text.split_once('/') {
            Some((t, n)) => (t, Some(n)),
            None => (text, None),
        };
        if type_name.is_empty() {
            return Err(ComponentIdError::EmptyType);
        }
        if let Some(c) = type_name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
            return Err(ComponentIdError::InvalidType(c));
        }
        if let Some(name) = name {
            if name.is_empty() {
                return Err(ComponentIdError::EmptyName);
            }
            if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
                return Err(ComponentIdError::InvalidName(c));
            }
        }
        Ok(Self {
            type_name: type_name.to_owned(),
            name: name.map(str::to_owned),
        })
    }

    /// The type part (`otlp_grpc` in `otlp_grpc/vendor-a`).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The instance name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.type_name, name),
            None => f.write_str(&self.type_name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_and_name() {
        let id = ComponentId::parse("otlp_grpc/vendor-a").unwrap();
        assert_eq!(id.type_name(), "otlp_grpc");
        assert_eq!(id.name(), Some("vendor-a"));
        assert_eq!(id.to_string(), "otlp_grpc/vendor-a");
        let id = ComponentId::parse("batch").unwrap();
        assert_eq!((id.type_name(), id.name()), ("batch", None));
    }

    #[test]
    fn rejects_malformed_ids() {
        assert_eq!(ComponentId::parse(""), Err(ComponentIdError::EmptyType));
        assert_eq!(ComponentId::parse("/x"), Err(ComponentIdError::EmptyType));
        assert_eq!(ComponentId::parse("otlp/"), Err(ComponentIdError::EmptyName));
        assert_eq!(ComponentId::parse("ot lp"), Err(ComponentIdError::InvalidType(' ')));
        assert_eq!(ComponentId::parse("otlp/a b"), Err(ComponentIdError::InvalidName(' ')));
    }
}
