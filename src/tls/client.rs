//! An exporter's TLS: the rustls client config built from a [`ClientTls`] block.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::config::ClientTls;
use super::load::{certified_key, provider, versions, PemBytes, TlsError};

impl ClientTls {
    /// The rustls config for connections that speak `alpn` (`h2` for gRPC), reading
    /// the CA, certificate and key files now.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<ClientConfig, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&versions(self.min_version, self.max_version))
            .map_err(|e| TlsError {
                key: "min_version".into(),
                message: e.to_string(),
            })?;
        let webpki = if self.insecure_skip_verify {
            None
        } else {
            let roots = Arc::new(self.roots()?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|e| TlsError {
                    key: "ca_file".into(),
                    message: format!("cannot verify servers with these CAs: {e}"),
                })?;
            Some(webpki)
        };
        let verifier = Arc::new(ServerCheck {
            webpki,
            name: self.server_name().transpose()?,
        });
        let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
        let mut config = match (self.cert_source(), self.key_source()) {
            (Some(cert), Some(key)) => {
                let certified = certified_key(&PemBytes::read(&cert)?, &PemBytes::read(&key)?)?;
                builder.with_client_cert_resolver(Arc::new(OneClientCertificate(certified)))
            }
            // Config validation requires both or neither.
            _ => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    /// `server_name_override` as a server name, if set.
    pub fn server_name(&self) -> Option<Result<ServerName<'static>, TlsError>> {
        self.server_name_override.as_ref().map(|name| {
            ServerName::try_from(name.clone()).map_err(|_| TlsError {
                key: "server_name_override".into(),
                message: format!("{name:?} is not a DNS name or IP address"),
            })
        })
    }

    /// The CAs to trust: `ca_file`/`ca_pem` (plus the system's with
    /// `include_system_ca_certs_pool`), else the system's.
    fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = match self.ca_source() {
            Some(source) => PemBytes::read(&source)?.root_store()?,
            None => RootCertStore::empty(),
        };
        if roots.is_empty() || self.include_system_ca_certs_pool {
            let system = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(system.certs);
            if added == 0 && roots.is_empty() {
                let why = system
                    .errors
                    .first()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "none found".into());
                return Err(TlsError {
                    key: "ca_file".into(),
                    message: format!("no CA to trust: the system's roots cannot be loaded ({why}); set ca_file"),
                });
            }
        }
        Ok(roots)
    }
}

/// How the server's certificate is checked: by webpki against the trusted CAs, for
/// `server_name_override` if set, else the name dialled; with
/// `insecure_skip_verify` (no `webpki`) not at all. The handshake's signatures are
/// checked either way. (rustls has no switch for either option; this trait is its
/// documented way to change verification.)
#[derive(Debug)]
struct ServerCheck {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    name: Option<ServerName<'static>>,
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.webpki {
            Some(webpki) => {
                let name = self.name.as_ref().unwrap_or(server_name);
                webpki.verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &provider().signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &provider().signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider().signature_verification_algorithms.supported_schemes()
    }
}

/// The client certificate presented to every backend that asks for one.
#[derive(Debug)]
struct OneClientCertificate(Arc<CertifiedKey>);

impl ResolvesClientCert for OneClientCertificate {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], _sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
