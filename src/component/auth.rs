//! Authenticators: what the `auth: {authenticator: <extension>}` key of a receiver
//! protocol or an exporter points at, as the Collector's `configauth`.
//!
//! An extension provides a [`ServerAuthenticator`] (checks the headers of a request
//! a receiver got, before its body is read), a [`ClientAuthenticator`] (gives the
//! headers of a request an exporter sends), or both. The graph builds extensions
//! first and hands receivers ([`ReceiverContext`](super::ReceiverContext)) and
//! exporters ([`ExporterContext`](super::ExporterContext)) the authenticators of
//! the extensions listed in `service.extensions`; the config check refuses an
//! `authenticator` that names anything else.
//!
//! Secrets (tokens, passwords, client secrets) are held in [`Secret`], whose `Debug`
//! never shows them, and no error message here carries one.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use super::BoxFuture;
use crate::pdata::ClientInfo;

/// Which sides an extension authenticates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthSides {
    /// It can check requests a receiver gets.
    pub server: bool,
    /// It can authenticate requests an exporter sends.
    pub client: bool,
}

/// `auth:` on a receiver protocol or an exporter, the Collector's shape.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The id of the authenticator extension (`bearertokenauth`, `basicauth/agents`).
    pub authenticator: String,
}

/// A request was refused: the message says why, never with the credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unauthenticated(pub String);

/// What a server authenticator learnt about the client (`username`), kept as the
/// `auth.` part of the request's [`ClientInfo`].
pub type AuthAttributes = BTreeMap<String, String>;

/// Checks the credentials of requests a receiver gets.
pub trait ServerAuthenticator: Send + Sync + 'static {
    /// Checks `headers` (HTTP headers, or gRPC metadata as headers). May be slow
    /// (a bcrypt hash), so it is async.
    fn authenticate<'a>(
        &'a self,
        headers: &'a http::HeaderMap,
    ) -> BoxFuture<'a, Result<AuthAttributes, Unauthenticated>>;
}

/// How a header change applies to what the request already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderAction {
    /// Set it only if the request does not have it.
    Insert,
    /// Set it only if the request has it.
    Update,
    /// Set it either way (the default).
    #[default]
    Upsert,
    /// Remove it.
    Delete,
}

/// One change a client authenticator makes to an outgoing request's headers.
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderChange {
    /// The header (gRPC metadata key).
    pub name: http::HeaderName,
    /// The value (ignored by [`HeaderAction::Delete`]).
    pub value: http::HeaderValue,
    /// How it applies.
    pub action: HeaderAction,
}

/// Names and actions only: values are credentials.
impl std::fmt::Debug for HeaderChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HeaderChange({} {:?})", self.name, self.action)
    }
}

impl HeaderChange {
    /// `name: value`, set whatever the request has.
    pub fn upsert(name: http::HeaderName, mut value: http::HeaderValue) -> Self {
        value.set_sensitive(true);
        Self {
            name,
            value,
            action: HeaderAction::Upsert,
        }
    }
}

/// Applies `changes` in order to `headers`.
pub fn apply_header_changes(changes: &[HeaderChange], headers: &mut http::HeaderMap) {
    for change in changes {
        let present = headers.contains_key(&change.name);
        match change.action {
            HeaderAction::Insert if present => {}
            HeaderAction::Update if !present => {}
            HeaderAction::Delete => {
                headers.remove(&change.name);
            }
            _ => {
                headers.insert(change.name.clone(), change.value.clone());
            }
        }
    }
}

/// A client authenticator could not give credentials (a token endpoint failed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ClientAuthError {
    /// What went wrong; never carries a secret.
    pub message: String,
    /// Whether a later attempt may succeed (a token endpoint that is down).
    pub retryable: bool,
}

/// Gives the credentials of requests an exporter sends.
pub trait ClientAuthenticator: Send + Sync + 'static {
    /// The header changes for one request carrying data from `client` (who sent
    /// the batch, if known: `headers_setter` copies its metadata).
    fn headers<'a>(
        &'a self,
        client: Option<&'a ClientInfo>,
    ) -> BoxFuture<'a, Result<Vec<HeaderChange>, ClientAuthError>>;
}

/// The server and client authenticators of the extensions a service runs, by id.
#[derive(Clone, Default)]
pub struct Authenticators {
    /// Server side, for receivers.
    pub server: BTreeMap<super::ComponentId, Arc<dyn ServerAuthenticator>>,
    /// Client side, for exporters.
    pub client: BTreeMap<super::ComponentId, Arc<dyn ClientAuthenticator>>,
}

impl Authenticators {
    /// The server authenticator `name` refers to.
    pub fn server(&self, name: &str) -> Result<Arc<dyn ServerAuthenticator>, String> {
        let id = super::ComponentId::parse(name).map_err(|e| format!("invalid id {name:?}: {e}"))?;
        self.server
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("{name:?} is not a server authenticator listed in service.extensions"))
    }

    /// The client authenticator `name` refers to.
    pub fn client(&self, name: &str) -> Result<Arc<dyn ClientAuthenticator>, String> {
        let id = super::ComponentId::parse(name).map_err(|e| format!("invalid id {name:?}: {e}"))?;
        self.client
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("{name:?} is not a client authenticator listed in service.extensions"))
    }

    /// The client authenticator an exporter's `auth:` block names, if it has one:
    /// what every exporter's `build` looks up, with the error at `auth.authenticator`.
    pub fn client_for(
        &self,
        auth: Option<&AuthConfig>,
    ) -> Result<Option<Arc<dyn ClientAuthenticator>>, super::BuildError> {
        auth.map(|auth| self.client(&auth.authenticator))
            .transpose()
            .map_err(|e| super::BuildError::at("auth.authenticator", e))
    }
}

/// A secret from the config (a token, a password, a client secret). `Debug` shows
/// `<redacted>` and a hash keyed with a random per-process key: never the value,
/// yet a changed secret changes the component's fingerprint, so a reload that
/// rotates a secret rebuilds what uses it.
#[derive(Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the code that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
        let hash = KEY.get_or_init(Default::default).hash_one(&self.0);
        write!(f, "<redacted {:08x}>", hash as u32)
    }
}

/// Compares two byte strings in constant time for equal lengths (the length of
/// the expected secret is not hidden, as with every such comparison).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_but_a_change_shows() {
        let a = format!("{:?}", Secret::new("s3cr3t-value"));
        assert!(!a.contains("s3cr3t"), "{a}");
        assert!(a.starts_with("<redacted"), "{a}");
        assert_eq!(a, format!("{:?}", Secret::new("s3cr3t-value")));
        assert_ne!(a, format!("{:?}", Secret::new("other")));
    }

    #[test]
    fn header_actions_follow_the_collector() {
        let name = http::HeaderName::from_static("x-tenant");
        let change = |action| HeaderChange {
            name: name.clone(),
            value: http::HeaderValue::from_static("new"),
            action,
        };
        let mut headers = http::HeaderMap::new();
        apply_header_changes(&[change(HeaderAction::Update)], &mut headers);
        assert!(headers.is_empty(), "update sets nothing that is absent");
        apply_header_changes(&[change(HeaderAction::Insert)], &mut headers);
        assert_eq!(headers["x-tenant"], "new");
        headers.insert(name.clone(), http::HeaderValue::from_static("old"));
        apply_header_changes(&[change(HeaderAction::Insert)], &mut headers);
        assert_eq!(headers["x-tenant"], "old", "insert keeps what is there");
        apply_header_changes(&[change(HeaderAction::Upsert)], &mut headers);
        assert_eq!(headers["x-tenant"], "new");
        apply_header_changes(&[change(HeaderAction::Delete)], &mut headers);
        assert!(headers.is_empty());
        let debug = format!("{:?}", change(HeaderAction::Upsert));
        assert!(!debug.contains("new"), "{debug}");
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
