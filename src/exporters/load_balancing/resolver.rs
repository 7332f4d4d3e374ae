//! The `dns` resolver: the A/AAAA records of one name, each with the configured port.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

use super::config::DnsSettings;

/// Resolves `settings.hostname` once, into `ip:port` endpoints.
///
/// A resolver is built per call and no answer is cached: the point of re-resolving
/// every `interval` is to see a headless Service's membership as it is now, as the
/// Collector's dns resolver does. The cost is one small config read every interval.
pub async fn resolve(settings: &DnsSettings) -> Result<BTreeSet<String>, String> {
    let mut builder = if settings.nameservers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| format!("reading the system resolver config: {e}"))?
    } else {
        let servers = settings
            .nameservers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    builder.options_mut().timeout = settings.timeout;
    let resolver = builder.build().map_err(|e| format!("building the resolver: {e}"))?;
    let lookup = tokio::time::timeout(settings.timeout, resolver.lookup_ip(settings.hostname.as_str()))
        .await
        .map_err(|_| format!("resolving {} timed out after {:?}", settings.hostname, settings.timeout))?
        .map_err(|e| format!("resolving {}: {e}", settings.hostname))?;
    Ok(lookup
        .iter()
        .map(|ip| SocketAddr::new(ip, settings.port).to_string())
        .collect())
}
