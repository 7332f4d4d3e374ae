//! Test CAs and certificates made with rcgen for each run, written to a temp dir,
//! and the rustls pieces the TLS tests need: a server config for backends that
//! require client certificates and a client that reads the certificate a server
//! presents.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The crypto provider of every config here (ring, as sloop's).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate authority that issues certificates for `localhost`.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, in PEM and DER.
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl TestCa {
    /// A new self-signed CA called `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("generating a CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("self-signing the CA"),
        }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate to `dir/name`.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        write_file(dir, name, &self.pem())
    }

    /// A certificate with common name `cn`, valid for `localhost` and `127.0.0.1`
    /// (as a server or a client), signed by this CA.
    pub fn issue(&self, cn: &str) -> Issued {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("leaf parameters");
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().expect("generating a key");
        let cert = params.signed_by(&key, &self.issuer).expect("signing a certificate");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// A store that trusts this CA.
    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone()).expect("adding the test CA");
        roots
    }
}

impl Issued {
    /// Writes `dir/<name>.pem` and `dir/<name>-key.pem` (each replaced by a rename,
    /// as a rotation does), and returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        (
            write_file(dir, &format!("{name}.pem"), &self.cert_pem),
            write_file(dir, &format!("{name}-key.pem"), &self.key_pem),
        )
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// A server config presenting this certificate, requiring client certificates
    /// signed by `client_ca` if given, speaking `alpn`.
    pub fn server_config(&self, client_ca: Option<&TestCa>, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions");
        let builder = match client_ca {
            Some(ca) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(ca.roots()), provider())
                    .build()
                    .expect("client verifier"),
            ),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(vec![self.cert_der.clone()], self.key())
            .expect("server certificate");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    let staging = dir.join(format!(".{name}.staging"));
    std::fs::write(&staging, contents).expect("writing a certificate file");
    std::fs::rename(&staging, &path).expect("renaming a certificate file into place");
    path
}

/// Connects to `address` over TLS trusting `ca` (and presenting `client` if
/// given), and returns the certificate the server presented; an error if the
/// handshake fails. Bounded by 5 s.
pub async fn peer_certificate(
    address: SocketAddr,
    ca: &TestCa,
    client: Option<&Issued>,
) -> Result<CertificateDer<'static>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(ca.roots());
    let mut config = match client {
        Some(issued) => builder
            .with_client_auth_cert(vec![issued.cert_der.clone()], issued.key())
            .map_err(|e| e.to_string())?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        // TLS 1.3: a refused client certificate shows on the first read (as the
        // server's alert), after the client's side of the handshake has finished.
        // A server that took the handshake answers the bytes or hangs up (an
        // HTTP/1.1 server on an HTTP/2 preface): both fine here.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(500), tls.read(&mut byte)).await {
            Ok(Err(e)) if e.kind() != std::io::ErrorKind::UnexpectedEof => return Err(e.to_string()),
            _ => {}
        }
        let certificates = tls.get_ref().1.peer_certificates().ok_or("no server certificate")?;
        Ok(certificates[0].clone().into_owned())
    };
    tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| "TLS handshake timed out".to_string())?
}
