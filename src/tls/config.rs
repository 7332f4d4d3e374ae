//! The `tls` blocks: the Collector's `configtls` keys for listeners and for clients,
//! and the checks that need no file contents.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::confmap::{deserialize_duration, ConfigError, Validate};

/// A TLS protocol version (`"1.2"`, `"1.3"`): what rustls offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2 (the default `min_version`).
    V1_2,
    /// TLS 1.3 (the default `max_version`).
    V1_3,
}

impl TlsVersion {
    /// Parses the Collector's spelling.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "1.2" => Ok(Self::V1_2),
            "1.3" => Ok(Self::V1_3),
            "1.0" | "1.1" => Err(format!(
                "TLS {text} is not offered (it is deprecated, RFC 8996); use \"1.2\" or \"1.3\""
            )),
            other => Err(format!("unknown TLS version {other:?}: use \"1.2\" or \"1.3\"")),
        }
    }

    pub(crate) fn rustls(self) -> &'static rustls::SupportedProtocolVersion {
        match self {
            Self::V1_2 => &rustls::version::TLS12,
            Self::V1_3 => &rustls::version::TLS13,
        }
    }
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `min_version: 1.2` unquoted is a YAML float; accept it as the text it reads as.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text,
            Raw::Number(n) => format!("{n:?}"),
        };
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Inline PEM that may hold a private key: deserialized as a string, never shown by
/// `Debug` (config dumps, error values).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretPem(String);

impl SecretPem {
    /// The PEM text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretPem {
    fn from(text: &str) -> Self {
        Self(text.to_string())
    }
}

impl fmt::Debug for SecretPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where one piece of PEM comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemSource {
    /// A file, read at start (and on reload); its key (`cert_file`) for messages.
    File(&'static str, PathBuf),
    /// Inline text; its key (`cert_pem`).
    Inline(&'static str, SecretPem),
}

impl PemSource {
    /// The config key and, for a file, its path: how errors name this source.
    pub fn describe(&self) -> String {
        match self {
            Self::File(key, path) => format!("{key} {}", path.display()),
            Self::Inline(key, _) => (*key).to_string(),
        }
    }
}

/// `protocols.{grpc,http}.tls` on a receiver: the listener speaks TLS, and with
/// `client_ca_file` requires a client certificate signed by one of those CAs (mTLS).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerTls {
    /// PEM file with the server's certificate chain (leaf first).
    pub cert_file: Option<PathBuf>,
    /// The chain inline, instead of `cert_file`.
    pub cert_pem: Option<String>,
    /// PEM file with the certificate's private key.
    pub key_file: Option<PathBuf>,
    /// The key inline, instead of `key_file` (never logged).
    pub key_pem: Option<SecretPem>,
    /// PEM file of CAs that sign client certificates: set, every client must present
    /// one (mTLS).
    pub client_ca_file: Option<PathBuf>,
    /// Refused with an explanation: the Collector accepts it on a server and does
    /// nothing with it, which reads like mTLS and is not.
    pub ca_file: Option<PathBuf>,
    /// Refused with an explanation, as `ca_file`.
    pub include_system_ca_certs_pool: Option<bool>,
    /// Lowest version accepted (default `"1.2"`).
    pub min_version: Option<TlsVersion>,
    /// Highest version accepted (default `"1.3"`).
    pub max_version: Option<TlsVersion>,
    /// How often the certificate, key and client CA files are checked for changes
    /// (default 0: read once at start). New connections get a changed certificate
    /// within this interval; a file that fails to load is logged and the old kept.
    #[serde(deserialize_with = "deserialize_duration")]
    pub reload_interval: Duration,
}

impl ServerTls {
    /// Where the certificate chain comes from.
    pub fn cert_source(&self) -> Option<PemSource> {
        source("cert_file", &self.cert_file, "cert_pem", self.cert_pem.as_deref())
    }

    /// Where the private key comes from.
    pub fn key_source(&self) -> Option<PemSource> {
        key_source(&self.key_file, &self.key_pem)
    }

    /// Where the client CAs come from (mTLS), if any.
    pub fn client_ca_source(&self) -> Option<PemSource> {
        self.client_ca_file
            .as_ref()
            .map(|path| PemSource::File("client_ca_file", path.clone()))
    }
}

impl Validate for ServerTls {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.cert_file.is_none() && self.cert_pem.is_none() {
            errors.push(ConfigError::new(
                "cert_file",
                "a TLS listener needs its certificate: set cert_file and key_file (or cert_pem and key_pem)",
            ));
        }
        check_identity(
            &mut errors,
            (&self.cert_file, self.cert_pem.is_some()),
            (&self.key_file, self.key_pem.is_some()),
        );
        check_file(&mut errors, "client_ca_file", &self.client_ca_file);
        if self.ca_file.is_some() {
            errors.push(ConfigError::new(
                "ca_file",
                "has no effect on a receiver (the Collector ignores it there too); \
                 use client_ca_file to require client certificates (mTLS)",
            ));
        }
        if self.include_system_ca_certs_pool.is_some() {
            errors.push(ConfigError::new(
                "include_system_ca_certs_pool",
                "has no effect on a receiver; client certificates are checked against client_ca_file only",
            ));
        }
        check_versions(&mut errors, self.min_version, self.max_version);
        errors
    }
}

/// `tls` on an exporter: how it connects to its backend.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTls {
    /// Plaintext (no TLS at all).
    pub insecure: bool,
    /// A PEM file of CA certificates to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// The CAs inline, instead of `ca_file`.
    pub ca_pem: Option<String>,
    /// Trust the system roots as well as `ca_file`/`ca_pem` (default false).
    pub include_system_ca_certs_pool: bool,
    /// PEM file with the client certificate chain presented to the backend (mTLS).
    pub cert_file: Option<PathBuf>,
    /// The client chain inline, instead of `cert_file`.
    pub cert_pem: Option<String>,
    /// PEM file with the client certificate's private key.
    pub key_file: Option<PathBuf>,
    /// The key inline, instead of `key_file` (never logged).
    pub key_pem: Option<SecretPem>,
    /// Accept any server certificate (still TLS, but no authentication of the
    /// backend): for tests only.
    pub insecure_skip_verify: bool,
    /// The name the server certificate is checked against instead of the
    /// endpoint's host (and, on gRPC, sent as SNI).
    pub server_name_override: Option<String>,
    /// Lowest version offered (default `"1.2"`).
    pub min_version: Option<TlsVersion>,
    /// Highest version offered (default `"1.3"`).
    pub max_version: Option<TlsVersion>,
}

impl ClientTls {
    /// Where the trusted CAs come from, if not only the system roots.
    pub fn ca_source(&self) -> Option<PemSource> {
        source("ca_file", &self.ca_file, "ca_pem", self.ca_pem.as_deref())
    }

    /// Where the client certificate chain comes from (mTLS), if any.
    pub fn cert_source(&self) -> Option<PemSource> {
        source("cert_file", &self.cert_file, "cert_pem", self.cert_pem.as_deref())
    }

    /// Where the client key comes from, if any.
    pub fn key_source(&self) -> Option<PemSource> {
        key_source(&self.key_file, &self.key_pem)
    }
}

impl Validate for ClientTls {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.ca_file.is_some() && self.ca_pem.is_some() {
            errors.push(ConfigError::new("ca_pem", "set ca_file or ca_pem, not both"));
        }
        check_file(&mut errors, "ca_file", &self.ca_file);
        check_identity(
            &mut errors,
            (&self.cert_file, self.cert_pem.is_some()),
            (&self.key_file, self.key_pem.is_some()),
        );
        if let Some(name) = &self.server_name_override {
            if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
                errors.push(ConfigError::new(
                    "server_name_override",
                    format!("{name:?} is not a DNS name or IP address"),
                ));
            }
        }
        check_versions(&mut errors, self.min_version, self.max_version);
        errors
    }
}

/// The `_file` form if given, else the `_pem` one (validation refuses both).
fn source(
    file_key: &'static str,
    file: &Option<PathBuf>,
    pem_key: &'static str,
    pem: Option<&str>,
) -> Option<PemSource> {
    match (file, pem) {
        (Some(path), _) => Some(PemSource::File(file_key, path.clone())),
        (None, Some(pem)) => Some(PemSource::Inline(pem_key, SecretPem::from(pem))),
        (None, None) => None,
    }
}

fn key_source(file: &Option<PathBuf>, pem: &Option<SecretPem>) -> Option<PemSource> {
    source("key_file", file, "key_pem", pem.as_ref().map(SecretPem::expose))
}

/// A certificate and its key come together, each from a file or inline, not both.
fn check_identity(errors: &mut Vec<ConfigError>, cert: (&Option<PathBuf>, bool), key: (&Option<PathBuf>, bool)) {
    let ((cert_file, cert_pem), (key_file, key_pem)) = (cert, key);
    if cert_file.is_some() && cert_pem {
        errors.push(ConfigError::new("cert_pem", "set cert_file or cert_pem, not both"));
    }
    if key_file.is_some() && key_pem {
        errors.push(ConfigError::new("key_pem", "set key_file or key_pem, not both"));
    }
    let has_cert = cert_file.is_some() || cert_pem;
    let has_key = key_file.is_some() || key_pem;
    if has_cert && !has_key {
        errors.push(ConfigError::new(
            "key_file",
            "the certificate needs its private key: set key_file (or key_pem)",
        ));
    }
    if has_key && !has_cert {
        errors.push(ConfigError::new(
            "cert_file",
            "the private key needs its certificate: set cert_file (or cert_pem)",
        ));
    }
    check_file(errors, "cert_file", cert_file);
    check_file(errors, "key_file", key_file);
}

/// A file named in the config exists (its contents are checked at start).
fn check_file(errors: &mut Vec<ConfigError>, key: &str, path: &Option<PathBuf>) {
    if let Some(path) = path {
        if !Path::new(path).is_file() {
            errors.push(ConfigError::new(
                key,
                format!("{} does not exist or is not a file", path.display()),
            ));
        }
    }
}

fn check_versions(errors: &mut Vec<ConfigError>, min: Option<TlsVersion>, max: Option<TlsVersion>) {
    if let (Some(min), Some(max)) = (min, max) {
        if max < min {
            errors.push(ConfigError::new("max_version", "must not be lower than min_version"));
        }
    }
}
