//! Tests of TLS settings, loading and reload, with CAs and certificates made by
//! rcgen for each test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};

use figment::providers::Format;

use super::*;
use crate::confmap::{parse_block, ConfigError};
use crate::receivers::otlp::OtlpReceiverConfig;

/// A CA that signs leaf certificates.
struct TestCa(CertifiedIssuer<'static, KeyPair>);

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Self(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
    }

    /// A certificate for `localhost` with `cn`, and its key, both PEM.
    fn leaf(&self, cn: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.0).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sloop-tls-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    // Written beside and renamed, as a rotation would: never half a file.
    let staging = dir.join(format!(".{name}.new"));
    std::fs::write(&staging, contents).unwrap();
    std::fs::rename(&staging, &path).unwrap();
    path
}

fn receiver(yaml: &str) -> Result<OtlpReceiverConfig, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    parse_block(&figment::value::Value::from(dict))
}

fn messages(errors: &[ConfigError]) -> Vec<String> {
    errors.iter().map(|e| format!("{}: {}", e.path, e.message)).collect()
}

fn server_tls(cert: &Path, key: &Path) -> ServerTls {
    ServerTls {
        cert_file: Some(cert.into()),
        key_file: Some(key.into()),
        ..ServerTls::default()
    }
}

#[test]
fn receiver_tls_parses_with_the_collector_keys() {
    let dir = temp_dir("parse");
    let ca = TestCa::new("ca");
    let (cert, key) = ca.leaf("server");
    let (cert, key) = (write(&dir, "cert.pem", &cert), write(&dir, "key.pem", &key));
    let ca_file = write(&dir, "ca.pem", &ca.0.pem());
    let config = receiver(&format!(
        "protocols:\n  grpc:\n    tls:\n      cert_file: {}\n      key_file: {}\n      client_ca_file: {}\n      min_version: 1.3\n      reload_interval: 1m\n  http:\n    tls: {{cert_file: {}, key_file: {}, max_version: \"1.2\"}}\n",
        cert.display(),
        key.display(),
        ca_file.display(),
        cert.display(),
        key.display(),
    ))
    .unwrap();
    let grpc = config.protocols.grpc.unwrap().tls.unwrap();
    assert_eq!(grpc.min_version, Some(TlsVersion::V1_3));
    assert_eq!(grpc.reload_interval, Duration::from_secs(60));
    assert_eq!(grpc.client_ca_file.as_deref(), Some(ca_file.as_path()));
    let http = config.protocols.http.unwrap().tls.unwrap();
    assert_eq!(http.max_version, Some(TlsVersion::V1_2));
    assert_eq!(http.reload_interval, Duration::ZERO);
}

#[test]
fn bad_receiver_tls_is_refused_with_paths() {
    let dir = temp_dir("refused");
    let (cert, key) = TestCa::new("ca").leaf("server");
    let (cert, key) = (write(&dir, "cert.pem", &cert), write(&dir, "key.pem", &key));
    let (cert, key) = (cert.display(), key.display());
    // (the tls block, what the errors must say)
    let cases = [
        (
            format!("{{cert_file: {cert}}}"),
            "protocols.grpc.tls.key_file: the certificate needs its private key",
        ),
        (
            format!("{{key_file: {key}}}"),
            "protocols.grpc.tls.cert_file: the private key needs its certificate",
        ),
        (
            format!("{{cert_file: {cert}, cert_pem: x, key_file: {key}}}"),
            "protocols.grpc.tls.cert_pem: set cert_file or cert_pem, not both",
        ),
        (
            "{min_version: \"1.2\"}".to_string(),
            "protocols.grpc.tls.cert_file: a TLS listener needs its certificate",
        ),
        (
            format!("{{cert_file: {}/nope.pem, key_file: {key}}}", dir.display()),
            "nope.pem does not exist or is not a file",
        ),
        (
            format!("{{cert_file: {cert}, key_file: {key}, ca_file: {cert}}}"),
            "protocols.grpc.tls.ca_file: has no effect on a receiver",
        ),
        (
            format!("{{cert_file: {cert}, key_file: {key}, min_version: \"1.1\"}}"),
            "TLS 1.1 is not offered",
        ),
        (
            format!("{{cert_file: {cert}, key_file: {key}, min_version: \"1.4\"}}"),
            "unknown TLS version \"1.4\"",
        ),
        (
            format!("{{cert_file: {cert}, key_file: {key}, min_version: \"1.3\", max_version: \"1.2\"}}"),
            "protocols.grpc.tls.max_version: must not be lower than min_version",
        ),
        (
            format!("{{cert_file: {cert}, key_file: {key}, cert_fil: x}}"),
            "cert_fil",
        ),
        // `tls:` left empty is not plaintext.
        (
            String::new(),
            "protocols.grpc.tls.cert_file: a TLS listener needs its certificate",
        ),
    ];
    for (tls, expected) in cases {
        let errors = messages(&receiver(&format!("protocols:\n  grpc:\n    tls: {tls}\n")).unwrap_err()).join("\n");
        assert!(errors.contains(expected), "{tls}: {errors}");
    }
}

#[test]
fn file_contents_are_checked_at_start_with_the_key_and_file_named() {
    let dir = temp_dir("contents");
    let ca = TestCa::new("ca");
    let (cert, key) = ca.leaf("server");
    let (_, other_key) = ca.leaf("other");
    let cert = write(&dir, "cert.pem", &cert);
    let key_path = write(&dir, "key.pem", &key);
    let garbage = write(&dir, "garbage.pem", "hello, not pem\n");
    let other_key = write(&dir, "other-key.pem", &other_key);
    let error = |tls: ServerTls| {
        ServerTlsSource::new(&tls, &[b"h2"])
            .unwrap_err()
            .under("protocols.grpc.tls")
            .to_string()
    };

    let not_pem = error(server_tls(&garbage, &key_path));
    assert!(
        not_pem.starts_with(&format!("protocols.grpc.tls.cert_file {}: not PEM", garbage.display())),
        "{not_pem}"
    );
    let key_as_cert = error(server_tls(&key_path, &key_path));
    assert!(
        key_as_cert.contains("no -----BEGIN CERTIFICATE----- block"),
        "{key_as_cert}"
    );
    let cert_as_key = error(server_tls(&cert, &cert));
    assert!(
        cert_as_key.starts_with(&format!(
            "protocols.grpc.tls.key_file {}: not PEM with a private key",
            cert.display()
        )),
        "{cert_as_key}"
    );
    let mismatch = error(server_tls(&cert, &other_key));
    assert!(
        mismatch.contains(&format!(
            "key_file {}: does not match the certificate in cert_file {}",
            other_key.display(),
            cert.display()
        )),
        "{mismatch}"
    );
    let unreadable = error(server_tls(&dir.join("gone.pem"), &key_path));
    assert!(unreadable.contains("gone.pem: cannot read"), "{unreadable}");
    let bad_ca = error(ServerTls {
        client_ca_file: Some(garbage.clone()),
        ..server_tls(&cert, &key_path)
    });
    assert!(bad_ca.starts_with("protocols.grpc.tls.client_ca_file"), "{bad_ca}");

    // A key given inline never shows, whatever goes wrong.
    let inline = ServerTls {
        cert_file: Some(cert.clone()),
        key_pem: Some(SecretPem::from(std::fs::read_to_string(&other_key).unwrap().as_str())),
        ..ServerTls::default()
    };
    let secret_line = std::fs::read_to_string(&other_key)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let mismatch = error(inline.clone());
    assert!(mismatch.contains("key_pem: does not match"), "{mismatch}");
    assert!(!mismatch.contains(&secret_line));
    let debug = format!("{inline:?}");
    assert!(debug.contains("[redacted]") && !debug.contains(&secret_line), "{debug}");
    let broken = SecretPem::from(format!("-----BEGIN PRIVATE KEY-----\n{secret_line}\n").as_str());
    let unclosed = error(ServerTls {
        key_pem: Some(broken),
        ..inline
    });
    assert!(
        unclosed.contains("key_pem: not valid PEM") && !unclosed.contains(&secret_line),
        "{unclosed}"
    );
}

#[test]
fn client_tls_keys_are_checked() {
    let dir = temp_dir("client");
    let (cert, _) = TestCa::new("ca").leaf("client");
    let cert = write(&dir, "cert.pem", &cert);
    let parse = |yaml: &str| -> ClientTls {
        let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
            .extract()
            .unwrap();
        figment::value::Value::from(dict).deserialize().unwrap()
    };
    let tls = parse(&format!(
        "cert_file: {}\nca_pem: x\nca_file: {}\nserver_name_override: 'not a name'",
        cert.display(),
        cert.display()
    ));
    let errors = messages(&crate::confmap::Validate::validate(&tls)).join("\n");
    assert!(
        errors.contains("key_file: the certificate needs its private key"),
        "{errors}"
    );
    assert!(errors.contains("ca_pem: set ca_file or ca_pem, not both"), "{errors}");
    assert!(
        errors.contains("server_name_override: \"not a name\" is not a DNS name"),
        "{errors}"
    );
    let skip = parse("insecure_skip_verify: true\nserver_name_override: otlp.internal\nmin_version: \"1.3\"");
    assert!(crate::confmap::Validate::validate(&skip).is_empty());
    assert!(skip.client_config(&[b"h2"]).is_ok());
    let bad_ca = ClientTls {
        ca_file: Some(cert.with_file_name("missing.pem")),
        ..ClientTls::default()
    };
    let error = bad_ca.client_config(&[]).unwrap_err().under("tls").to_string();
    assert!(
        error.starts_with("tls.ca_file ") && error.contains("missing.pem: cannot read"),
        "{error}"
    );
}

/// Handshakes over an in-memory pipe and returns the certificate the server showed.
async fn served_certificate(
    acceptor: tokio_rustls::TlsAcceptor,
    ca_pem: &str,
) -> Result<CertificateDer<'static>, String> {
    let client = ClientTls {
        ca_pem: Some(ca_pem.to_string()),
        ..ClientTls::default()
    };
    handshake(acceptor, &client, "localhost").await
}

/// A handshake of `client` dialling `name` with `acceptor`, over an in-memory
/// pipe; the certificate the server showed, or what failed (either side).
async fn handshake(
    acceptor: tokio_rustls::TlsAcceptor,
    client: &ClientTls,
    name: &str,
) -> Result<CertificateDer<'static>, String> {
    let config = client.client_config(&[b"h2"]).map_err(|e| e.to_string())?;
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let (client, server) = tokio::join!(connector.connect(name, client_io), acceptor.accept(server_io));
    server.map_err(|e| e.to_string())?;
    let client = client.map_err(|e| e.to_string())?;
    let certificates = client.get_ref().1.peer_certificates().ok_or("no certificate")?;
    Ok(certificates[0].clone().into_owned())
}

#[tokio::test]
async fn skip_verify_and_server_name_override_change_what_the_client_accepts() {
    let dir = temp_dir("client-verify");
    let (ca, stranger) = (TestCa::new("ca"), TestCa::new("stranger"));
    let (cert, key) = ca.leaf("server");
    let source = ServerTlsSource::new(
        &server_tls(&write(&dir, "cert.pem", &cert), &write(&dir, "key.pem", &key)),
        &[b"h2"],
    )
    .unwrap();
    let trusting = |pem: String| ClientTls {
        ca_pem: Some(pem),
        ..ClientTls::default()
    };
    // The certificate names localhost: another name fails, unless overridden.
    assert!(handshake(source.acceptor(), &trusting(ca.0.pem()), "localhost")
        .await
        .is_ok());
    assert!(handshake(source.acceptor(), &trusting(ca.0.pem()), "gateway.internal")
        .await
        .is_err());
    let overridden = ClientTls {
        server_name_override: Some("localhost".into()),
        ..trusting(ca.0.pem())
    };
    assert!(handshake(source.acceptor(), &overridden, "gateway.internal")
        .await
        .is_ok());
    let wrong_override = ClientTls {
        server_name_override: Some("elsewhere.example".into()),
        ..trusting(ca.0.pem())
    };
    assert!(handshake(source.acceptor(), &wrong_override, "localhost")
        .await
        .is_err());
    // A CA the client does not trust fails, unless verification is skipped.
    assert!(handshake(source.acceptor(), &trusting(stranger.0.pem()), "localhost")
        .await
        .is_err());
    let skipping = ClientTls {
        insecure_skip_verify: true,
        ..trusting(stranger.0.pem())
    };
    assert!(handshake(source.acceptor(), &skipping, "localhost").await.is_ok());
    // Version bounds that do not meet fail the handshake.
    let tls12_server = ServerTlsSource::new(
        &ServerTls {
            max_version: Some(TlsVersion::V1_2),
            ..server_tls(&dir.join("cert.pem"), &dir.join("key.pem"))
        },
        &[b"h2"],
    )
    .unwrap();
    let tls13_client = ClientTls {
        min_version: Some(TlsVersion::V1_3),
        ..trusting(ca.0.pem())
    };
    assert!(handshake(tls12_server.acceptor(), &tls13_client, "localhost")
        .await
        .is_err());
    assert!(handshake(tls12_server.acceptor(), &trusting(ca.0.pem()), "localhost")
        .await
        .is_ok());
}

fn der(pem: &str) -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

#[tokio::test]
async fn replaced_files_are_served_after_the_reload_interval_and_bad_ones_are_not() {
    let dir = temp_dir("reload");
    let ca = TestCa::new("ca");
    let (first, first_key) = ca.leaf("first");
    let cert = write(&dir, "cert.pem", &first);
    let key = write(&dir, "key.pem", &first_key);
    let tls = ServerTls {
        reload_interval: Duration::from_millis(100),
        ..server_tls(&cert, &key)
    };
    let source = ServerTlsSource::new(&tls, &[b"h2"]).unwrap();
    assert_eq!(
        served_certificate(source.acceptor(), &ca.0.pem()).await.unwrap(),
        der(&first)
    );

    // A certificate whose key is not there yet: the old one stays.
    let (second, second_key) = ca.leaf("second");
    write(&dir, "cert.pem", &second);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        served_certificate(source.acceptor(), &ca.0.pem()).await.unwrap(),
        der(&first)
    );

    // With the key, new connections get the new certificate within the interval.
    write(&dir, "key.pem", &second_key);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let served = served_certificate(source.acceptor(), &ca.0.pem()).await.unwrap();
        if served == der(&second) {
            break;
        }
        assert!(Instant::now() < deadline, "the new certificate was not served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Without reload_interval the files are read once.
    let fixed = ServerTlsSource::new(&server_tls(&cert, &key), &[b"h2"]).unwrap();
    let (third, third_key) = ca.leaf("third");
    write(&dir, "cert.pem", &third);
    write(&dir, "key.pem", &third_key);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        served_certificate(fixed.acceptor(), &ca.0.pem()).await.unwrap(),
        der(&second)
    );
}

#[tokio::test]
async fn a_changed_client_ca_is_required_of_new_connections() {
    let dir = temp_dir("client-ca");
    let (server_ca, client_ca, other_ca) = (
        TestCa::new("server ca"),
        TestCa::new("client ca"),
        TestCa::new("other ca"),
    );
    let (cert, key) = server_ca.leaf("server");
    let tls = ServerTls {
        client_ca_file: Some(write(&dir, "clients.pem", &client_ca.0.pem())),
        reload_interval: Duration::from_millis(50),
        ..server_tls(&write(&dir, "cert.pem", &cert), &write(&dir, "key.pem", &key))
    };
    let source = ServerTlsSource::new(&tls, &[b"h2"]).unwrap();
    let client_dir = temp_dir("client-ca-client");
    let (client_cert, client_key) = client_ca.leaf("client");
    let client = ClientTls {
        ca_pem: Some(server_ca.0.pem()),
        cert_file: Some(write(&client_dir, "c.pem", &client_cert)),
        key_file: Some(write(&client_dir, "k.pem", &client_key)),
        ..ClientTls::default()
    };
    assert!(
        handshake(source.acceptor(), &client, "localhost").await.is_ok(),
        "a client certificate signed by client_ca_file"
    );
    let anonymous = ClientTls {
        ca_pem: Some(server_ca.0.pem()),
        ..ClientTls::default()
    };
    assert!(
        handshake(source.acceptor(), &anonymous, "localhost").await.is_err(),
        "no client certificate"
    );

    write(&dir, "clients.pem", &other_ca.0.pem());
    let deadline = Instant::now() + Duration::from_secs(5);
    while handshake(source.acceptor(), &client, "localhost").await.is_ok() {
        assert!(Instant::now() < deadline, "the replaced client CA was not applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
