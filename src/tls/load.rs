//! Reading certificates, keys and CAs from PEM files or inline PEM, with errors
//! that name the config key and the file. PEM parsing is rustls-pki-types'.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use sha2::{Digest, Sha256};

use super::config::{PemSource, TlsVersion};

/// A TLS setting that cannot be used: the key (and file) it is about, and why.
/// Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    /// The config key, relative to the `tls` block until [`TlsError::under`] prefixes
    /// it, with the file's path for a file (`cert_file /etc/tls/server.pem`).
    pub key: String,
    /// What is wrong, lowercase.
    pub message: String,
}

impl TlsError {
    fn new(source: &PemSource, message: impl Into<String>) -> Self {
        Self {
            key: source.describe(),
            message: message.into(),
        }
    }

    /// The same error with its key prefixed by the path of the `tls` block
    /// (`protocols.grpc.tls`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.key = format!("{prefix}.{}", self.key);
        self
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for TlsError {}

/// The crypto provider every TLS config of sloop uses: ring.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The versions between `min` (default 1.2) and `max` (default 1.3).
pub fn versions(min: Option<TlsVersion>, max: Option<TlsVersion>) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let (min, max) = (min.unwrap_or(TlsVersion::V1_2), max.unwrap_or(TlsVersion::V1_3));
    [TlsVersion::V1_2, TlsVersion::V1_3]
        .into_iter()
        .filter(|v| (min..=max).contains(v))
        .map(TlsVersion::rustls)
        .collect()
}

/// The bytes of one PEM source, read now.
#[derive(Clone, PartialEq, Eq)]
pub struct PemBytes {
    source: PemSource,
    bytes: Vec<u8>,
}

impl PemBytes {
    /// Reads the file (or takes the inline text).
    pub fn read(source: &PemSource) -> Result<Self, TlsError> {
        let bytes = match source {
            PemSource::File(_, path) => {
                std::fs::read(path).map_err(|e| TlsError::new(source, format!("cannot read: {e}")))?
            }
            PemSource::Inline(_, text) => text.expose().as_bytes().to_vec(),
        };
        Ok(Self {
            source: source.clone(),
            bytes,
        })
    }

    /// Adds these bytes to a digest that tells whether anything changed.
    pub fn digest_into(&self, digest: &mut Sha256) {
        digest.update((self.bytes.len() as u64).to_le_bytes());
        digest.update(&self.bytes);
    }

    /// The source, for messages.
    pub fn source(&self) -> &PemSource {
        &self.source
    }

    /// Every `CERTIFICATE` block; at least one.
    pub fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let certificates = CertificateDer::pem_slice_iter(&self.bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::new(&self.source, pem_problem(&e)))?;
        if certificates.is_empty() {
            return Err(TlsError::new(
                &self.source,
                "not PEM with a certificate: no -----BEGIN CERTIFICATE----- block in it",
            ));
        }
        Ok(certificates)
    }

    /// The first private key (PKCS#8, PKCS#1 or SEC1).
    pub fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(&self.bytes).map_err(|e| match e {
            pem::Error::NoItemsFound => TlsError::new(
                &self.source,
                "not PEM with a private key: no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block in it",
            ),
            other => TlsError::new(&self.source, pem_problem(&other)),
        })
    }

    /// A store of the CA certificates in it.
    pub fn root_store(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        for certificate in self.certificates()? {
            roots
                .add(certificate)
                .map_err(|e| TlsError::new(&self.source, format!("not a usable CA certificate: {e}")))?;
        }
        Ok(roots)
    }
}

impl fmt::Debug for PemBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes may be a private key.
        f.debug_struct("PemBytes")
            .field("source", &self.source)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// A PEM syntax problem, said without quoting the input (which may be a key).
fn pem_problem(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { .. } => "not valid PEM: a -----BEGIN section has no -----END".into(),
        pem::Error::IllegalSectionStart { .. } => "not valid PEM: a malformed -----BEGIN line".into(),
        pem::Error::Base64Decode(_) => "not valid PEM: a section's base64 does not decode".into(),
        pem::Error::NoItemsFound => "not PEM: no -----BEGIN section in it".into(),
        pem::Error::Io(e) => format!("cannot read: {e}"),
        _ => "not valid PEM".into(),
    }
}

/// The certificate chain and its key, checked to belong together.
pub fn certified_key(cert: &PemBytes, key: &PemBytes) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = cert.certificates()?;
    let private_key = key.private_key()?;
    let signing_key = provider()
        .key_provider
        .load_private_key(private_key)
        .map_err(|e| TlsError::new(key.source(), format!("unsupported private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // ring exposes every key's public half, so Unknown does not happen with it.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Err(TlsError::new(
            key.source(),
            format!("does not match the certificate in {}", cert.source().describe()),
        )),
        Err(e) => Err(TlsError::new(cert.source(), format!("not a usable certificate: {e}"))),
    }
}
