//! `basicauth` — HTTP Basic authentication, as the Collector's basicauth extension.
//! With `htpasswd` it is a server authenticator for receiver protocols; with
//! `client_auth: {username, password}` a client authenticator for exporters.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! - `htpasswd.inline` and `htpasswd.file` hold `user:hash` lines (`#` comments and
//!   blank lines are skipped); with both, the file's users are added. Hashes must be
//!   bcrypt (`$2y$`, `$2b$`, `$2a$`: `htpasswd -B`); another format is refused where
//!   it is written (the config check for `inline`, start for `file`), with its line.
//! - A request needs `Authorization: Basic base64(user:password)`. bcrypt is slow
//!   by design (tens of milliseconds), so it runs off the async threads, and a
//!   user's last verified password is remembered as a SHA-256 digest: a client
//!   sending the same credentials again costs a hash, not a bcrypt run. At most one
//!   bcrypt check per core runs at a time, so wrong passwords cannot take every core.
//! - The user name becomes the request's `auth.username`, which the attributes
//!   processor can copy (`from_context: auth.username`).
//! - No password, hash or header value appears in a log line, an error or `Debug`.

mod config;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use sha2::Digest;

pub use config::{BasicAuthConfig, ClientAuthConfig, HtpasswdConfig};

use crate::component::auth::{
    constant_time_eq, AuthAttributes, AuthSides, ClientAuthError, HeaderChange, Unauthenticated,
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
    type_name: "basicauth",
    aliases: &[],
    signals: &[],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExtensionConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<BasicAuthConfig>(value)?))
}

/// Users and their bcrypt hashes.
#[derive(Default, Clone)]
pub struct Htpasswd {
    users: HashMap<String, String>,
}

impl Htpasswd {
    /// Parses htpasswd lines; an error names the line, never its hash.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("line {}: not user:hash", n + 1));
            };
            if user.is_empty() {
                return Err(format!("line {}: empty user name", n + 1));
            }
            let bcrypt = ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p));
            if !bcrypt || hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(format!(
                    "line {} (user {user:?}): not a bcrypt hash; only bcrypt is supported (htpasswd -B)",
                    n + 1
                ));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Self { users })
    }
}

impl ExtensionConfig for BasicAuthConfig {
    fn build(&self, id: &ComponentId, _ctx: &ExtensionContext) -> Result<Arc<dyn Extension>, BuildError> {
        let inline = match self.htpasswd.as_ref().and_then(|h| h.inline.as_ref()) {
            Some(text) => Htpasswd::parse(text.expose()).map_err(|e| BuildError::at("htpasswd.inline", e))?,
            None => Htpasswd::default(),
        };
        let client = match &self.client_auth {
            Some(client) => {
                let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    client.username,
                    client.password.expose()
                ));
                let mut value = http::HeaderValue::from_str(&format!("Basic {credentials}"))
                    .map_err(|_| BuildError::at("client_auth", "the credentials do not fit in a header"))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Arc::new(BasicAuth {
            id: id.clone(),
            file: self.htpasswd.as_ref().and_then(|h| h.file.clone()),
            server: self.htpasswd.is_some(),
            users: Arc::new(Users {
                inline,
                current: RwLock::new(Arc::new(Htpasswd::default())),
                verified: Mutex::new(HashMap::new()),
                bcrypt_runs: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
                ),
            }),
            client: client.map(|value| Arc::new(ClientCredentials(value))),
        }))
    }

    fn authenticator(&self) -> AuthSides {
        AuthSides {
            server: self.htpasswd.is_some(),
            client: self.client_auth.is_some(),
        }
    }
}

/// The running extension.
pub struct BasicAuth {
    id: ComponentId,
    file: Option<PathBuf>,
    server: bool,
    users: Arc<Users>,
    client: Option<Arc<ClientCredentials>>,
}

/// The accepted users: loaded at start (inline ones and the file's).
struct Users {
    inline: Htpasswd,
    current: RwLock<Arc<Htpasswd>>,
    /// Per user, the SHA-256 of the password last verified against its bcrypt hash.
    verified: Mutex<HashMap<String, [u8; 32]>>,
    /// At most one bcrypt run per core at a time: a flood of wrong passwords then
    /// queues here instead of taking every core from the data path.
    bcrypt_runs: tokio::sync::Semaphore,
}

impl Users {
    fn hash_of(&self, user: &str) -> Option<String> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .users
            .get(user)
            .cloned()
    }

    async fn verify(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.hash_of(user) else {
            return false;
        };
        let digest: [u8; 32] = sha2::Sha256::digest(password.as_bytes()).into();
        let remembered = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
            .is_some_and(|known| constant_time_eq(known, &digest));
        if remembered {
            return true;
        }
        let Ok(_run) = self.bcrypt_runs.acquire().await else {
            return false;
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(user.to_string(), digest);
        }
        ok
    }
}

/// `user:password` from an `Authorization: Basic ...` value.
fn credentials(headers: &http::HeaderMap) -> Result<(String, String), Unauthenticated> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| Unauthenticated("missing authorization header".into()))?;
    let text = value
        .to_str()
        .map_err(|_| Unauthenticated("invalid authorization header".into()))?;
    let (scheme, encoded) = text
        .split_once(' ')
        .ok_or_else(|| Unauthenticated("invalid authorization header".into()))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Unauthenticated("the authorization header is not Basic".into()));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| Unauthenticated("invalid Basic credentials encoding".into()))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| Unauthenticated("invalid Basic credentials: no ':'".into()))?;
    Ok((user.to_string(), password.to_string()))
}

impl ServerAuthenticator for Users {
    fn authenticate<'a>(
        &'a self,
        headers: &'a http::HeaderMap,
    ) -> BoxFuture<'a, Result<AuthAttributes, Unauthenticated>> {
        Box::pin(async move {
            let (user, password) = credentials(headers)?;
            if !self.verify(&user, &password).await {
                // The user name is not logged either: it may be a mistyped password.
                return Err(Unauthenticated("invalid user name or password".into()));
            }
            Ok(AuthAttributes::from([("username".to_string(), user)]))
        })
    }
}

/// `Authorization: Basic ...` for an exporter.
struct ClientCredentials(http::HeaderValue);

impl ClientAuthenticator for ClientCredentials {
    fn headers<'a>(
        &'a self,
        _client: Option<&'a ClientInfo>,
    ) -> BoxFuture<'a, Result<Vec<HeaderChange>, ClientAuthError>> {
        Box::pin(async move { Ok(vec![HeaderChange::upsert(http::header::AUTHORIZATION, self.0.clone())]) })
    }
}

impl Extension for BasicAuth {
    fn server_authenticator(&self) -> Option<Arc<dyn ServerAuthenticator>> {
        self.server.then(|| self.users.clone() as Arc<dyn ServerAuthenticator>)
    }

    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        self.client.clone().map(|c| c as Arc<dyn ClientAuthenticator>)
    }
}

impl Lifecycle for BasicAuth {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move {
            let mut users = self.users.inline.clone();
            if let Some(path) = &self.file {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    StartError::new(&self.id, format!("cannot read htpasswd file {}: {e}", path.display()))
                })?;
                let file = Htpasswd::parse(&text)
                    .map_err(|e| StartError::new(&self.id, format!("htpasswd file {}: {e}", path.display())))?;
                users.users.extend(file.users);
            }
            *self.users.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(users);
            Ok(())
        })
    }
}
