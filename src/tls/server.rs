//! A listener's TLS: the rustls server config built from a [`ServerTls`] block, and
//! rebuilt when its files change (see [`ServerTlsSource`]).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

use super::config::ServerTls;
use super::load::{certified_key, provider, versions, PemBytes, TlsError};

/// A listener's TLS config, reloaded from its files.
///
/// Reload: each new connection asks [`ServerTlsSource::acceptor`] for the current
/// config. At most once per `reload_interval` that call reads the certificate, key
/// and client CA files again and compares a digest of their bytes with the loaded
/// ones; when they differ, a new config (certificate and client verifier) is built
/// and swapped in, so the connection being accepted already gets it. Connections
/// already open keep what they negotiated. Files that fail to load (a key written
/// before its certificate, a truncated file) are logged once with their path and
/// the old config is kept; the next check tries again. Comparing contents, not
/// modification times, also catches Kubernetes' secret volumes, which swap a
/// symlink rather than write the files.
pub struct ServerTlsSource {
    settings: ServerTls,
    alpn: Vec<Vec<u8>>,
    state: Mutex<State>,
}

struct State {
    config: Arc<ServerConfig>,
    /// Digest of the bytes `config` was built from.
    loaded: [u8; 32],
    /// When the files were last looked at.
    checked: Instant,
    /// What the last failed reload was (its digest, or its error): logged once.
    failed: Option<String>,
}

impl ServerTlsSource {
    /// Loads the files now: a listener does not start with a certificate it cannot
    /// use. `alpn` is what the listener speaks (`h2` for gRPC, `http/1.1` for HTTP).
    pub fn new(settings: &ServerTls, alpn: &[&[u8]]) -> Result<Self, TlsError> {
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let files = read(settings)?;
        let config = build(settings, &alpn, &files)?;
        Ok(Self {
            settings: settings.clone(),
            alpn,
            state: Mutex::new(State {
                config,
                loaded: digest(&files),
                checked: Instant::now(),
                failed: None,
            }),
        })
    }

    /// An acceptor with the current config, after reloading changed files if
    /// `reload_interval` has passed since the last look.
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let interval = self.settings.reload_interval;
        if !interval.is_zero() && state.checked.elapsed() >= interval {
            state.checked = Instant::now();
            self.reload(&mut state);
        }
        TlsAcceptor::from(state.config.clone())
    }

    fn reload(&self, state: &mut State) {
        // A failure is reported once: identified by its message when the files
        // cannot be read, by the digest of the files when they do not build.
        let (error, identity) = match read(&self.settings) {
            Err(error) => {
                let identity = error.to_string();
                (error, identity)
            }
            Ok(files) => {
                let digest = digest(&files);
                if digest == state.loaded {
                    return;
                }
                match build(&self.settings, &self.alpn, &files) {
                    Ok(config) => {
                        state.config = config;
                        state.loaded = digest;
                        state.failed = None;
                        tracing::info!(message = "TLS certificate reloaded.", files = %self.describe());
                        return;
                    }
                    Err(error) => (error, hex::encode(digest)),
                }
            }
        };
        if state.failed.as_deref() != Some(identity.as_str()) {
            tracing::warn!(
                message = "Cannot reload TLS files; keeping the certificate loaded before.",
                %error,
            );
            state.failed = Some(identity);
        }
    }

    fn describe(&self) -> String {
        [
            self.settings.cert_source(),
            self.settings.key_source(),
            self.settings.client_ca_source(),
        ]
        .into_iter()
        .flatten()
        .map(|s| s.describe())
        .collect::<Vec<_>>()
        .join(", ")
    }
}

impl std::fmt::Debug for ServerTlsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTlsSource")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The files (or inline PEM) a config is built from: certificate, key, client CAs.
struct Files {
    cert: PemBytes,
    key: PemBytes,
    client_ca: Option<PemBytes>,
}

fn read(settings: &ServerTls) -> Result<Files, TlsError> {
    let missing = |key: &str| TlsError {
        key: key.into(),
        message: "a TLS listener needs its certificate and key".into(),
    };
    let cert = settings.cert_source().ok_or_else(|| missing("cert_file"))?;
    let key = settings.key_source().ok_or_else(|| missing("key_file"))?;
    Ok(Files {
        cert: PemBytes::read(&cert)?,
        key: PemBytes::read(&key)?,
        client_ca: settings.client_ca_source().map(|s| PemBytes::read(&s)).transpose()?,
    })
}

fn digest(files: &Files) -> [u8; 32] {
    let mut digest = Sha256::new();
    files.cert.digest_into(&mut digest);
    files.key.digest_into(&mut digest);
    if let Some(ca) = &files.client_ca {
        ca.digest_into(&mut digest);
    }
    digest.finalize().into()
}

fn build(settings: &ServerTls, alpn: &[Vec<u8>], files: &Files) -> Result<Arc<ServerConfig>, TlsError> {
    let certified = certified_key(&files.cert, &files.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions(settings.min_version, settings.max_version))
        .map_err(|e| TlsError {
            key: "min_version".into(),
            message: e.to_string(),
        })?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(ca.root_store()?), provider())
                .build()
                .map_err(|e| TlsError {
                    key: ca.source().describe(),
                    message: format!("cannot verify clients with these CAs: {e}"),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(OneCertificate(certified)));
    config.alpn_protocols = alpn.to_vec();
    Ok(Arc::new(config))
}

/// Serves the one certificate a config was built with (the config is swapped whole
/// on reload, so the resolver need not change).
#[derive(Debug)]
struct OneCertificate(Arc<CertifiedKey>);

impl ResolvesServerCert for OneCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}
