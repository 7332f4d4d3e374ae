//! `loadbalancing` exporter config, with the Collector's keys: `routing_key`,
//! `protocol.otlp` (the template of every backend's otlp_grpc exporter) and
//! `resolver` (`static` or `dns`).

use std::time::Duration;

use figment::value::{Dict, Tag, Value};
use serde::Deserialize;

use crate::confmap::{deserialize_duration, parse_block, ConfigError, RawValue, Validate};
use crate::exporters::otlp_grpc::OtlpGrpcConfig;

/// The gRPC port a backend listens on when the resolver does not say (as in the Collector).
pub const DEFAULT_PORT: u16 = 4317;

/// Stands in for the endpoint while the template is checked; each backend's own
/// address replaces it.
const TEMPLATE_ENDPOINT: &str = "loadbalancing-backend:4317";

/// `exporters.loadbalancing` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancingConfig {
    /// What keeps data together on one backend (default `traceID`).
    #[serde(default)]
    pub routing_key: RoutingKey,
    /// How backends are reached.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub protocol: ProtocolConfig,
    /// Where the list of backends comes from.
    pub resolver: ResolverConfig,
}

/// `routing_key`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum RoutingKey {
    /// Every span (and log record) of one trace goes to one backend, so tail sampling
    /// sees whole traces.
    #[default]
    #[serde(rename = "traceID")]
    TraceId,
    /// Everything of one `service.name` goes to one backend, so one service's SLO
    /// events are all counted on one gateway.
    #[serde(rename = "service")]
    Service,
}

/// `protocol`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolConfig {
    /// `protocol.otlp`: the keys of `exporters.otlp_grpc`, without `endpoint`.
    #[serde(default)]
    pub otlp: Option<RawValue>,
}

/// `resolver`: exactly one of `static` and `dns`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverConfig {
    /// A fixed list of backends.
    #[serde(default, rename = "static")]
    pub static_: Option<StaticResolver>,
    /// A DNS name re-resolved every `interval` (a Kubernetes headless Service).
    #[serde(default)]
    pub dns: Option<DnsResolver>,
}

/// `resolver.static`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticResolver {
    /// `host[:port]` of each backend (port 4317 when left out).
    pub hostnames: Vec<String>,
}

/// `resolver.dns`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsResolver {
    /// The name whose A/AAAA records are the backends.
    pub hostname: String,
    /// The backends' port (default 4317).
    #[serde(default = "default_port")]
    pub port: u16,
    /// How often the name is resolved again (default 5s).
    #[serde(default = "default_interval", deserialize_with = "deserialize_duration")]
    pub interval: Duration,
    /// Deadline of one resolution (default 1s).
    #[serde(default = "default_dns_timeout", deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// sloop-specific (not in the Collector): `ip[:port]` of the name servers to ask
    /// instead of those in `/etc/resolv.conf` (default port 53).
    #[serde(default)]
    pub nameservers: Vec<String>,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}
fn default_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_dns_timeout() -> Duration {
    Duration::from_secs(1)
}

/// Where backends come from, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolver {
    /// Fixed `host:port` endpoints.
    Static(Vec<String>),
    /// Re-resolved DNS name.
    Dns(DnsSettings),
}

/// `resolver.dns`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// The name to resolve.
    pub hostname: String,
    /// The backends' port.
    pub port: u16,
    /// Re-resolution period.
    pub interval: Duration,
    /// Deadline of one resolution.
    pub timeout: Duration,
    /// Name servers to ask; empty = the system's.
    pub nameservers: Vec<std::net::SocketAddr>,
}

/// The checked config the exporter is built from.
#[derive(Debug, Clone)]
pub struct LoadBalancing {
    /// `routing_key`.
    pub routing_key: RoutingKey,
    /// `protocol.otlp` with a placeholder endpoint, replaced per backend.
    pub template: OtlpGrpcConfig,
    /// `resolver`.
    pub resolver: Resolver,
}

impl LoadBalancing {
    /// Parses and checks an `exporters.loadbalancing` block; every problem is
    /// reported, with its path relative to the block.
    pub fn parse(value: &RawValue) -> Result<Self, Vec<ConfigError>> {
        let raw: LoadBalancingConfig = parse_block(value)?;
        let template = raw.template();
        let resolver = raw.resolver.check();
        match (template, resolver) {
            (Ok(template), Ok(resolver)) => Ok(LoadBalancing {
                routing_key: raw.routing_key,
                template,
                resolver,
            }),
            (template, resolver) => Err(template
                .err()
                .unwrap_or_default()
                .into_iter()
                .chain(resolver.err().unwrap_or_default())
                .collect()),
        }
    }

    /// The otlp_grpc config of the backend at `endpoint` (`host:port`).
    pub fn backend(&self, endpoint: &str) -> OtlpGrpcConfig {
        OtlpGrpcConfig {
            endpoint: endpoint.to_owned(),
            ..self.template.clone()
        }
    }
}

impl Validate for LoadBalancingConfig {}

impl LoadBalancingConfig {
    /// `protocol.otlp` parsed as an otlp_grpc block, so its keys, defaults and checks
    /// are exactly those of `exporters.otlp_grpc`.
    fn template(&self) -> Result<OtlpGrpcConfig, Vec<ConfigError>> {
        let mut dict = match &self.protocol.otlp {
            None | Some(Value::Empty(..)) => Dict::new(),
            Some(Value::Dict(_, dict)) => dict.clone(),
            Some(_) => {
                return Err(vec![ConfigError::new(
                    "protocol.otlp",
                    "expected a map of otlp_grpc settings",
                )])
            }
        };
        if dict.contains_key("endpoint") {
            return Err(vec![ConfigError::new(
                "protocol.otlp.endpoint",
                "not allowed here: each backend's endpoint comes from the resolver",
            )]);
        }
        dict.insert("endpoint".into(), Value::from(TEMPLATE_ENDPOINT));
        let template = parse_block::<OtlpGrpcConfig>(&Value::Dict(Tag::Default, dict))
            .map_err(|errors| errors.into_iter().map(|e| e.under("protocol.otlp")).collect::<Vec<_>>())?;
        if template.sending_queue.storage.is_some() {
            // Backends come and go with the resolver; their queues are retired into
            // the others, which a directory per backend would not survive.
            return Err(vec![ConfigError::new(
                "protocol.otlp.sending_queue.storage",
                "not supported per backend: set storage on the loadbalancing exporter's own sending_queue",
            )]);
        }
        Ok(template)
    }
}

impl ResolverConfig {
    fn check(&self) -> Result<Resolver, Vec<ConfigError>> {
        match (&self.static_, &self.dns) {
            (Some(_), Some(_)) => Err(vec![ConfigError::new(
                "resolver",
                "set exactly one of `static` and `dns`, not both",
            )]),
            (None, None) => Err(vec![ConfigError::new(
                "resolver",
                "set one of `static` (a list of hostnames) or `dns` (a name to resolve)",
            )]),
            (Some(fixed), None) => fixed.check().map_err(|e| under(e, "resolver.static")),
            (None, Some(dns)) => dns.check().map_err(|e| under(e, "resolver.dns")),
        }
    }
}

fn under(errors: Vec<ConfigError>, prefix: &str) -> Vec<ConfigError> {
    errors.into_iter().map(|e| e.under(prefix)).collect()
}

impl StaticResolver {
    fn check(&self) -> Result<Resolver, Vec<ConfigError>> {
        if self.hostnames.is_empty() {
            return Err(vec![ConfigError::new("hostnames", "must list at least one backend")]);
        }
        let mut errors = Vec::new();
        let mut endpoints = Vec::new();
        for (i, hostname) in self.hostnames.iter().enumerate() {
            match with_port(hostname) {
                Ok(endpoint) if endpoints.contains(&endpoint) => errors.push(ConfigError::new(
                    format!("hostnames.{i}"),
                    format!("{endpoint} is listed twice"),
                )),
                Ok(endpoint) => endpoints.push(endpoint),
                Err(e) => errors.push(ConfigError::new(format!("hostnames.{i}"), e)),
            }
        }
        if errors.is_empty() {
            Ok(Resolver::Static(endpoints))
        } else {
            Err(errors)
        }
    }
}

/// `host` or `host:port` → `host:port` (default 4317), checked as a URI authority.
fn with_port(hostname: &str) -> Result<String, String> {
    let hostname = hostname.trim();
    if hostname.is_empty() || hostname.contains("://") || hostname.contains('/') {
        return Err(format!("{hostname:?}: expected host or host:port"));
    }
    let endpoint = if hostname
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        && !hostname.ends_with(']')
    {
        hostname.to_owned()
    } else {
        format!("{hostname}:{DEFAULT_PORT}")
    };
    endpoint
        .parse::<http::uri::Authority>()
        .map_err(|e| format!("{hostname:?} is not a valid host:port: {e}"))?;
    Ok(endpoint)
}

impl DnsResolver {
    fn check(&self) -> Result<Resolver, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let hostname = self.hostname.trim();
        if hostname.is_empty() {
            errors.push(ConfigError::new("hostname", "must not be empty"));
        } else if hostname.contains(':') || hostname.contains('/') {
            errors.push(ConfigError::new(
                "hostname",
                format!("{hostname:?}: a DNS name only; the port goes in `port`"),
            ));
        }
        if self.port == 0 {
            errors.push(ConfigError::new("port", "must be greater than 0"));
        }
        if self.interval.is_zero() {
            errors.push(ConfigError::new("interval", "must be greater than 0"));
        }
        if self.timeout.is_zero() {
            errors.push(ConfigError::new("timeout", "must be greater than 0"));
        }
        let mut nameservers = Vec::new();
        for (i, server) in self.nameservers.iter().enumerate() {
            let parsed = server
                .parse::<std::net::SocketAddr>()
                .or_else(|_| server.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()));
            match parsed {
                Ok(addr) => nameservers.push(addr),
                Err(_) => errors.push(ConfigError::new(
                    format!("nameservers.{i}"),
                    format!("{server:?}: expected an IP address, optionally with :port"),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Resolver::Dns(DnsSettings {
            hostname: hostname.to_owned(),
            port: self.port,
            interval: self.interval,
            timeout: self.timeout,
            nameservers,
        }))
    }
}
