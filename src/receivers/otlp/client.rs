//! Who may send, and what of the request is kept: a protocol's `auth` (its server
//! authenticator checks the headers before the body is read) and
//! `include_metadata` (the headers travel with the data as its
//! [`ClientInfo`](crate::pdata::ClientInfo)).

use std::sync::Arc;

use metrics::Counter;

use super::intake::Transport;
use crate::component::auth::Unauthenticated;
use crate::component::{ComponentId, ServerAuthenticator};
use crate::pdata::ClientInfo;

/// One protocol's check of its requests' clients.
pub struct ClientCheck {
    authenticator: Option<Arc<dyn ServerAuthenticator>>,
    include_metadata: bool,
    unauthenticated: Counter,
}

impl ClientCheck {
    /// The check of one transport of receiver `id`.
    pub fn new(
        id: &ComponentId,
        transport: Transport,
        authenticator: Option<Arc<dyn ServerAuthenticator>>,
        include_metadata: bool,
    ) -> Arc<Self> {
        Arc::new(Self {
            authenticator,
            include_metadata,
            unauthenticated: metrics::counter!(
                "otelcol_receiver_unauthenticated_requests",
                "receiver" => id.to_string(),
                "transport" => transport.as_str(),
            ),
        })
    }

    /// Authenticates a request from its headers and keeps what the pipelines may
    /// read about its client (`None`: nothing to keep). A refusal is counted and
    /// logged at debug level, without the credentials.
    pub async fn check(&self, headers: &http::HeaderMap) -> Result<Option<Arc<ClientInfo>>, Unauthenticated> {
        let auth = match &self.authenticator {
            Some(authenticator) => match authenticator.authenticate(headers).await {
                Ok(attributes) => attributes,
                Err(refused) => {
                    self.unauthenticated.increment(1);
                    tracing::debug!(message = "Refused an unauthenticated request.", reason = %refused);
                    return Err(refused);
                }
            },
            None => Default::default(),
        };
        let metadata = if self.include_metadata {
            ClientInfo::metadata_from(headers)
        } else {
            Default::default()
        };
        let client = ClientInfo::new(metadata, auth);
        Ok((!client.is_empty()).then(|| Arc::new(client)))
    }
}
