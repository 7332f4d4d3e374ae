//! TLS for receivers' listeners and exporters' connections, with the Collector's
//! `configtls` keys. rustls with the ring provider does the TLS; PEM is parsed by
//! rustls-pki-types.
//!
//! A receiver protocol (`receivers.otlp.protocols.{grpc,http}.tls`):
//!
//! ```yaml
//! tls:
//!   cert_file: /etc/sloop/tls/server.pem     # chain, leaf first (or cert_pem: inline)
//!   key_file: /etc/sloop/tls/server-key.pem  # its key (or key_pem: inline, never logged)
//!   client_ca_file: /etc/sloop/tls/ca.pem    # set: clients must present a certificate it signed (mTLS)
//!   min_version: "1.2"                       # default; "1.3"
//!   max_version: "1.3"                       # default
//!   reload_interval: 1m                      # default 0: files read once at start
//! ```
//!
//! `reload_interval`: the certificate, key and client CA files are read again at
//! most this often (on the next new connection) and, when their contents changed,
//! new connections get the new certificate and client CAs; open connections keep
//! theirs. Files that do not load (a key that does not match, a truncated file) are
//! logged with their path and the old certificate kept. `ca_file` and
//! `include_system_ca_certs_pool` are refused on a receiver: the Collector accepts
//! and ignores them there, which reads like mTLS and is not.
//!
//! An exporter (`exporters.<otlp_grpc|otlp_http>.tls`, and the loadbalancing
//! exporter's `protocol.otlp.tls`):
//!
//! ```yaml
//! tls:
//!   insecure: false                     # default; true = plaintext (gRPC)
//!   ca_file: /etc/ssl/vendor-ca.pem     # trust these CAs instead of the system's (or ca_pem: inline)
//!   include_system_ca_certs_pool: false # default; true = the system's as well
//!   cert_file: /etc/sloop/client.pem    # mTLS: the client certificate (or cert_pem)
//!   key_file: /etc/sloop/client-key.pem # and its key (or key_pem, never logged)
//!   insecure_skip_verify: false         # default; true = accept any server certificate
//!   server_name_override: otlp.internal # check the certificate against this name
//!   min_version: "1.2"                  # default
//!   max_version: "1.3"                  # default
//! ```
//!
//! Checked when the config is loaded (`sloop validate`): unknown keys and versions,
//! a certificate without its key (or the reverse), a `_file` and a `_pem` form of
//! the same thing, files that do not exist. Checked at start, with the key and file
//! named: a file that cannot be read, is not PEM, holds no certificate or key, or a
//! key that does not match its certificate.

mod client;
mod config;
mod load;
mod server;
#[cfg(test)]
mod tests;

pub use config::{ClientTls, PemSource, SecretPem, ServerTls, TlsVersion};
pub use load::{provider, TlsError};
pub use server::ServerTlsSource;
