//! Who sent the data being processed: the request's metadata (headers) and what its
//! authenticator said about the client, as the Collector's `client.Info`.
//!
//! The Collector carries it in the `context.Context` of every consume call. sloop's
//! [`Consumer::consume`](crate::component::Consumer::consume) runs on the receiver
//! request's own task through every processor up to the exporters' fan-out, so the
//! same thing is a Tokio task-local here: the receiver runs the pipeline call inside
//! [`scope`], a processor reads [`current`] (the attributes processor's
//! `from_context`), and the fan-out stores it in the [`ExportBatch`](super::ExportBatch)
//! for exporters, whose workers run on other tasks (`headers_setter`). A stage that
//! holds data and passes it on later, merged with other requests' data (the batch
//! processor), runs that call in [`scope`] with `None`, so no request's metadata is
//! attached to another's data.
//!
//! Values are never shown by `Debug`: the metadata of a request holds its
//! `authorization` header.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static CLIENT: Option<Arc<ClientInfo>>;
}

/// A request's metadata and authentication result.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Request headers (gRPC metadata) by lowercase name, every value in order; empty
    /// unless the receiver protocol has `include_metadata: true`.
    metadata: BTreeMap<String, Vec<String>>,
    /// What the authenticator reported about the client (`username` for basicauth).
    auth: BTreeMap<String, String>,
}

impl ClientInfo {
    /// Client information from request metadata and authentication attributes.
    pub fn new(metadata: BTreeMap<String, Vec<String>>, auth: BTreeMap<String, String>) -> Self {
        Self { metadata, auth }
    }

    /// Keeps the text values of `headers`, keys lowercased (they already are in
    /// `http`), in order; values that are not valid text are left out.
    pub fn metadata_from(headers: &http::HeaderMap) -> BTreeMap<String, Vec<String>> {
        let mut metadata: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in headers {
            if let Ok(text) = value.to_str() {
                metadata
                    .entry(name.as_str().to_ascii_lowercase())
                    .or_default()
                    .push(text.to_string());
            }
        }
        metadata
    }

    /// Every value of metadata key `key` (any case).
    pub fn metadata(&self, key: &str) -> &[String] {
        self.metadata
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// An attribute the authenticator set.
    pub fn auth(&self, key: &str) -> Option<&str> {
        self.auth.get(key).map(String::as_str)
    }

    /// Nothing kept: no metadata and no authentication attributes.
    pub fn is_empty(&self) -> bool {
        self.metadata.is_empty() && self.auth.is_empty()
    }

    /// A `from_context` reference: `metadata.<key>` (or a bare `<key>`, as the
    /// Collector's headers_setter reads it) is the metadata's values; `auth.<name>`
    /// the authenticator's attribute.
    pub fn lookup(&self, reference: &str) -> Vec<&str> {
        if let Some(name) = reference.strip_prefix("auth.") {
            return self.auth(name).into_iter().collect();
        }
        let key = reference.strip_prefix("metadata.").unwrap_or(reference);
        self.metadata(key).iter().map(String::as_str).collect()
    }
}

/// Keys only: values can be credentials.
impl std::fmt::Debug for ClientInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInfo")
            .field("metadata_keys", &self.metadata.keys().collect::<Vec<_>>())
            .field("auth_keys", &self.auth.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The client information of the request whose data the current task is processing.
pub fn current() -> Option<Arc<ClientInfo>> {
    CLIENT.try_with(Clone::clone).ok().flatten()
}

/// Runs `work` with `client` as the [`current`] client information (`None`: none).
pub async fn scope<F: Future>(client: Option<Arc<ClientInfo>>, work: F) -> F::Output {
    CLIENT.scope(client, work).await
}
