//! `oauth2client` — authenticates an exporter's requests with an OAuth2 access token
//! from the client-credentials grant (RFC 6749 §4.4), as the Collector's
//! oauth2client extension. A client authenticator: `auth: {authenticator:
//! oauth2client}` on `otlp_grpc` or `otlp_http`.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! - The token is fetched on the first export, not at start (a token endpoint that
//!   is down does not stop sloop from starting), with `grant_type=client_credentials`,
//!   `scope` (the `scopes`, space-separated), the `endpoint_params`, and the client
//!   id and secret as HTTP Basic credentials.
//! - It is kept and sent as `Authorization: Bearer <token>` until `expiry_buffer`
//!   before its `expires_in` runs out (a token without `expires_in` is kept until
//!   restart); then the next export fetches a new one. Exporters share one fetch.
//! - `client_id_file` / `client_secret_file` are read at every fetch, so rotated
//!   credentials are used from the next token on.
//! - A failed fetch fails the export with a retryable error saying what the token
//!   endpoint answered; the export is retried with the exporter's backoff.
//! - `tls` (a token endpoint with its own CA or a client certificate) is not
//!   supported yet; `https://` endpoints are checked against the system's roots.
//! - Neither the client secret nor a token appears in a log line, an error or `Debug`.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use config::OAuth2ClientConfig;

use crate::component::auth::{AuthSides, ClientAuthError, HeaderChange, Secret};
use crate::component::registry::ExtensionFactory;
use crate::component::{
    BoxFuture, BuildError, ClientAuthenticator, ComponentId, Extension, ExtensionConfig, ExtensionContext, Lifecycle,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::ClientInfo;

/// Registry entry.
pub const FACTORY: ExtensionFactory = ExtensionFactory {
    type_name: "oauth2client",
    aliases: &[],
    signals: &[],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExtensionConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<OAuth2ClientConfig>(value)?))
}

impl ExtensionConfig for OAuth2ClientConfig {
    fn build(&self, _id: &ComponentId, _ctx: &ExtensionContext) -> Result<Arc<dyn Extension>, BuildError> {
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(concat!("sloop/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError::new(format!("token client: {e}")))?;
        Ok(Arc::new(OAuth2Client(Arc::new(TokenSource {
            config: self.clone(),
            http,
            cached: tokio::sync::Mutex::new(None),
        }))))
    }

    fn authenticator(&self) -> AuthSides {
        AuthSides {
            server: false,
            client: true,
        }
    }
}

/// The running extension.
pub struct OAuth2Client(Arc<TokenSource>);

/// Fetches tokens and keeps the current one.
struct TokenSource {
    config: OAuth2ClientConfig,
    http: reqwest::Client,
    /// Held while fetching, so concurrent exports wait for one fetch.
    cached: tokio::sync::Mutex<Option<CachedToken>>,
}

struct CachedToken {
    /// `Bearer <token>`, marked sensitive.
    header: http::HeaderValue,
    /// When to fetch a new one; `None`: the token does not expire.
    refresh_at: Option<Instant>,
}

/// The token endpoint's answer (RFC 6749 §5.1); other fields are ignored.
#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

fn retryable(message: String) -> ClientAuthError {
    ClientAuthError {
        message,
        retryable: true,
    }
}

impl TokenSource {
    /// The client id and secret, from their files when set.
    fn credentials(&self) -> Result<(String, Secret), ClientAuthError> {
        let read = |path: &std::path::Path, what: &str| {
            std::fs::read_to_string(path)
                .map(|text| text.trim().to_string())
                .map_err(|e| retryable(format!("cannot read {what} file {}: {e}", path.display())))
        };
        let id = match &self.config.client_id_file {
            Some(path) => read(path, "client_id")?,
            None => self.config.client_id.clone().unwrap_or_default(),
        };
        let secret = match &self.config.client_secret_file {
            Some(path) => Secret::new(read(path, "client_secret")?),
            None => self.config.client_secret.clone().unwrap_or_default(),
        };
        Ok((id, secret))
    }

    async fn fetch(&self) -> Result<CachedToken, ClientAuthError> {
        let (id, secret) = self.credentials()?;
        let url = &self.config.token_url;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        let scope = self.config.scopes.join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        form.extend(
            self.config
                .endpoint_params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let started = Instant::now();
        let response = self
            .http
            .post(url)
            .basic_auth(id, Some(secret.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| retryable(format!("token request to {url} failed: {}", without_url(&e))))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| retryable(format!("reading the token response from {url}: {}", without_url(&e))))?;
        if !status.is_success() {
            // An error body (RFC 6749 §5.2) names the error; it holds no credentials.
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
            return Err(retryable(format!(
                "token endpoint {url} answered {status}: {}",
                text.trim()
            )));
        }
        let token: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            retryable(format!(
                "token endpoint {url} answered without a usable access_token: {e}"
            ))
        })?;
        let mut header = http::HeaderValue::from_str(&format!("Bearer {}", token.access_token)).map_err(|_| {
            retryable(format!(
                "token endpoint {url} sent a token that is not valid in a header"
            ))
        })?;
        header.set_sensitive(true);
        let refresh_at = token.expires_in.map(|seconds| {
            let lifetime = Duration::from_secs(seconds).saturating_sub(self.config.expiry_buffer);
            started + lifetime
        });
        tracing::debug!(message = "Fetched an OAuth2 token.", token_url = %url, expires_in = ?token.expires_in);
        Ok(CachedToken { header, refresh_at })
    }
}

/// A reqwest error's text without the URL it repeats (the caller names it).
fn without_url(error: &reqwest::Error) -> String {
    let mut error = error.to_string();
    if let Some(at) = error.find(" for url (") {
        error.truncate(at);
    }
    error
}

impl ClientAuthenticator for TokenSource {
    fn headers<'a>(
        &'a self,
        _client: Option<&'a ClientInfo>,
    ) -> BoxFuture<'a, Result<Vec<HeaderChange>, ClientAuthError>> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            let fresh = cached
                .as_ref()
                .is_some_and(|token| token.refresh_at.is_none_or(|at| Instant::now() < at));
            if !fresh {
                *cached = Some(self.fetch().await?);
            }
            let header = cached
                .as_ref()
                .map(|token| token.header.clone())
                .ok_or_else(|| retryable("no token".into()))?;
            Ok(vec![HeaderChange::upsert(http::header::AUTHORIZATION, header)])
        })
    }
}

impl Extension for OAuth2Client {
    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        Some(self.0.clone())
    }
}

impl Lifecycle for OAuth2Client {}
