//! `bearertokenauth` — authenticates with a bearer token, as the Collector's
//! bearertokenauth extension: on a receiver protocol (`auth: {authenticator:
//! bearertokenauth}`) every request must carry `<header>: <scheme> <token>`; on an
//! exporter every request carries it.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! - `token`, `tokens` (a receiver accepts any of them; an exporter sends `token`, else
//!   the first of `tokens`), or `filename`: a file holding the token. The file is
//!   read at start (a missing or empty file fails start) and checked for changes
//!   every second; a changed file's token replaces the old one at once. A file that
//!   cannot be read or is empty on a change keeps the previous token, and the path is
//!   logged.
//! - `scheme` (default `Bearer`): the header value is `<scheme> <token>`; with an
//!   empty scheme it is the token alone. `header` (default `Authorization`).
//! - Tokens are compared in constant time. A refused request is answered
//!   UNAUTHENTICATED / 401 and counted in `otelcol_receiver_unauthenticated_requests`;
//!   no message, log line or `Debug` output carries a token.

mod config;
#[cfg(test)]
pub(crate) mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

pub use config::BearerTokenAuthConfig;

use crate::component::auth::{
    constant_time_eq, AuthAttributes, AuthSides, ClientAuthError, HeaderChange, Secret, Unauthenticated,
};
use crate::component::registry::ExtensionFactory;
use crate::component::{
    BoxFuture, BuildError, ClientAuthenticator, ComponentId, Extension, ExtensionConfig, ExtensionContext, Lifecycle,
    ServerAuthenticator, StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::ClientInfo;

/// Registry entry.
pub const FACTORY: ExtensionFactory = ExtensionFactory {
    type_name: "bearertokenauth",
    aliases: &[],
    signals: &[],
    parse,
    example: include_str!("example.yaml"),
};

/// How often `filename` is checked for a change.
const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

fn parse(value: &RawValue) -> Result<Box<dyn ExtensionConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<BearerTokenAuthConfig>(value)?))
}

impl ExtensionConfig for BearerTokenAuthConfig {
    fn build(&self, id: &ComponentId, _ctx: &ExtensionContext) -> Result<Arc<dyn Extension>, BuildError> {
        let header = http::HeaderName::from_bytes(self.header.as_bytes()).map_err(|e| BuildError::at("header", e))?;
        Ok(Arc::new(BearerTokenAuth {
            id: id.clone(),
            filename: self.filename.clone(),
            tokens: Arc::new(Tokens {
                scheme: self.scheme.clone(),
                header,
                current: RwLock::new(Arc::new(self.inline_tokens())),
            }),
            check_interval: FILE_CHECK_INTERVAL,
            stop: Mutex::new(None),
        }))
    }

    fn authenticator(&self) -> AuthSides {
        AuthSides {
            server: true,
            client: true,
        }
    }
}

/// The running extension: the tokens, and the task watching `filename`.
pub struct BearerTokenAuth {
    id: ComponentId,
    filename: Option<PathBuf>,
    tokens: Arc<Tokens>,
    check_interval: Duration,
    /// Stops the file watch; set while started.
    stop: Mutex<Option<CancellationToken>>,
}

/// The accepted tokens, shared by the extension and everything it authenticates.
struct Tokens {
    scheme: String,
    header: http::HeaderName,
    current: RwLock<Arc<Vec<Secret>>>,
}

impl Tokens {
    fn get(&self) -> Arc<Vec<Secret>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, tokens: Vec<Secret>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tokens);
    }

    /// The header value that carries `token`.
    fn value(&self, token: &Secret) -> String {
        match self.scheme.as_str() {
            "" => token.expose().to_string(),
            scheme => format!("{scheme} {}", token.expose()),
        }
    }

    /// Whether `presented` is the header value of one of the tokens. Every token is
    /// compared, each in constant time, so the time taken does not say which
    /// token came close.
    fn accepts(&self, presented: &[u8]) -> bool {
        self.get().iter().fold(false, |found, token| {
            found | constant_time_eq(presented, self.value(token).as_bytes())
        })
    }
}

impl ServerAuthenticator for Tokens {
    fn authenticate<'a>(
        &'a self,
        headers: &'a http::HeaderMap,
    ) -> BoxFuture<'a, Result<AuthAttributes, Unauthenticated>> {
        Box::pin(async move {
            let Some(presented) = headers.get(&self.header) else {
                return Err(Unauthenticated(format!("missing {} header", self.header)));
            };
            if self.accepts(presented.as_bytes()) {
                Ok(AuthAttributes::new())
            } else {
                Err(Unauthenticated(format!(
                    "invalid bearer token in the {} header",
                    self.header
                )))
            }
        })
    }
}

impl ClientAuthenticator for Tokens {
    fn headers<'a>(
        &'a self,
        _client: Option<&'a ClientInfo>,
    ) -> BoxFuture<'a, Result<Vec<HeaderChange>, ClientAuthError>> {
        Box::pin(async move {
            let tokens = self.get();
            let Some(token) = tokens.first() else {
                return Err(ClientAuthError {
                    message: "bearertokenauth has no token (its file was not read yet)".into(),
                    retryable: true,
                });
            };
            let value = http::HeaderValue::from_str(&self.value(token)).map_err(|_| ClientAuthError {
                message: "the bearer token is not valid in an HTTP header".into(),
                retryable: false,
            })?;
            Ok(vec![HeaderChange::upsert(self.header.clone(), value)])
        })
    }
}

/// What identifies a version of the token file without reading it.
type FileStamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> FileStamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// The token in `path`: its contents without surrounding whitespace.
fn read_token(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("token file {} is empty", path.display()));
    }
    Ok(Secret::new(token))
}

/// Re-reads `path` whenever it changes, until `stop`; a bad read keeps the token.
/// `read` is the stamp of the version start read.
async fn watch(
    id: ComponentId,
    path: PathBuf,
    read: FileStamp,
    tokens: Arc<Tokens>,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut last = read;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let now = stamp(&path);
        if now == last {
            continue;
        }
        last = now;
        match read_token(&path) {
            Ok(token) => {
                tokens.set(vec![token]);
                tracing::info!(message = "Token file changed; using its new token.", extension = %id, path = %path.display());
            }
            Err(error) => {
                tracing::warn!(message = "Token file changed but cannot be used; keeping the previous token.", extension = %id, %error);
            }
        }
    }
}

impl Extension for BearerTokenAuth {
    fn server_authenticator(&self) -> Option<Arc<dyn ServerAuthenticator>> {
        Some(self.tokens.clone())
    }

    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        Some(self.tokens.clone())
    }
}

impl Lifecycle for BearerTokenAuth {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move {
            let Some(path) = &self.filename else {
                return Ok(());
            };
            // Stamped before reading: a change made meanwhile is read again.
            let read = stamp(path);
            let token = read_token(path).map_err(|e| StartError::new(&self.id, e))?;
            self.tokens.set(vec![token]);
            let stop = CancellationToken::new();
            if let Some(old) = self
                .stop
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .replace(stop.clone())
            {
                old.cancel();
            }
            tokio::spawn(watch(
                self.id.clone(),
                path.clone(),
                read,
                self.tokens.clone(),
                self.check_interval,
                stop,
            ));
            Ok(())
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(stop) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take() {
                stop.cancel();
            }
        })
    }
}
