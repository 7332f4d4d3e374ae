//! The pipelines the harness measures, as sloop configs.

use std::path::{Path, PathBuf};

use crate::SloopPorts;

/// One thing to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Scenario {
    /// (d) The floor: decode and re-encode each request, nothing else (not sloop).
    Floor,
    /// The peer: Rotel's `rotel-agent` (PyPI `rotel`), OTLP/gRPC in, its batch at
    /// 8192 spans / 200 ms, OTLP/gRPC out: passthrough's equivalent (not sloop).
    Rotel,
    /// (a) `otlp → batch → otlp_grpc`.
    Passthrough,
    /// (a) with the exporter's queue on disk: `sending_queue.storage: file_storage`
    /// (`fsync: false`, the default), in a fresh directory per collector.
    Persistent,
    /// [`Scenario::Persistent`] with `fsync: true`: every group commit is synced.
    PersistentFsync,
    /// (b) `otlp → memory_limiter → attributes → sli → slo → probabilistic_sampler(10%)
    /// → batch → 2× otlp_grpc`.
    Full,
    /// (c) `otlp → tail_sampling → batch → otlp_grpc`.
    TailSampling,
}

impl Scenario {
    /// Every scenario, floor first, and the persistent ones after passthrough (they
    /// are compared with the passthrough of the same round).
    pub const ALL: [Scenario; 7] = [
        Scenario::Floor,
        Scenario::Rotel,
        Scenario::Passthrough,
        Scenario::Persistent,
        Scenario::PersistentFsync,
        Scenario::Full,
        Scenario::TailSampling,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Floor => "floor",
            Scenario::Rotel => "rotel",
            Scenario::Passthrough => "passthrough",
            Scenario::Persistent => "persistent",
            Scenario::PersistentFsync => "persistent_fsync",
            Scenario::Full => "full",
            Scenario::TailSampling => "tail_sampling",
        }
    }

    /// How many sinks the scenario exports to.
    pub fn sinks(self) -> usize {
        match self {
            Scenario::Full => 2,
            _ => 1,
        }
    }

    /// Whether every accepted span reaches each sink (no sampling).
    pub fn delivers_everything(self) -> bool {
        matches!(
            self,
            Scenario::Floor
                | Scenario::Rotel
                | Scenario::Passthrough
                | Scenario::Persistent
                | Scenario::PersistentFsync
        )
    }

    /// Whether the collector is sloop (its config comes from [`Scenario::config`]).
    pub fn is_sloop(self) -> bool {
        !matches!(self, Scenario::Floor | Scenario::Rotel)
    }

    /// Whether the scenario's exporter can send with `compression`: the floor sends
    /// plain protobuf only, Rotel's OTLP exporter knows `gzip` and `none`.
    pub fn supports(self, compression: Compression) -> bool {
        match self {
            Scenario::Floor => compression == Compression::None,
            Scenario::Rotel => compression != Compression::Zstd,
            _ => true,
        }
    }

    /// The key of this scenario with `compression` in results and reports: the bare
    /// name for `none` (as before compression was a dimension), `name/gzip` else.
    pub fn key(self, compression: Compression) -> String {
        match compression {
            Compression::None => self.name().to_string(),
            other => format!("{}/{}", self.name(), other.name()),
        }
    }

    /// For a persistent-queue scenario, its `file_storage` `fsync` setting.
    pub fn storage_fsync(self) -> Option<bool> {
        match self {
            Scenario::Persistent => Some(false),
            Scenario::PersistentFsync => Some(true),
            _ => None,
        }
    }

    /// Where a persistent-queue scenario keeps its queue files, inside `state_dir`.
    pub fn storage_dir(state_dir: &Path) -> PathBuf {
        state_dir.join("file_storage")
    }

    /// The sloop config for this scenario (`None` for the floor and Rotel),
    /// exporting to `sinks` (`host:port`) with `compression`, with `state_dir` for
    /// the slo processor's state and the persistent queues' files.
    pub fn config(
        self,
        ports: &SloopPorts,
        sinks: &[String],
        state_dir: &Path,
        compression: Compression,
    ) -> Option<String> {
        let processors: &[&str] = match self {
            Scenario::Floor | Scenario::Rotel => return None,
            Scenario::Passthrough | Scenario::Persistent | Scenario::PersistentFsync => &["batch"],
            Scenario::Full => &[
                "memory_limiter",
                "attributes",
                "sli",
                "slo",
                "probabilistic_sampler",
                "batch",
            ],
            Scenario::TailSampling => &["tail_sampling", "batch"],
        };
        let mut yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{}\nprocessors:\n",
            ports.grpc
        );
        for name in processors {
            yaml.push_str(&processor_block(name, state_dir));
        }
        yaml.push_str("exporters:\n");
        for (i, sink) in sinks.iter().enumerate() {
            // `none` compares with the floor, which sends plain protobuf; `gzip`
            // (the Collector's and Rotel's default) with Rotel.
            yaml.push_str(&format!(
                "  otlp_grpc/{i}:\n    endpoint: {sink}\n    tls: {{insecure: true}}\n    compression: {}\n",
                compression.name()
            ));
            if self.storage_fsync().is_some() {
                yaml.push_str("    sending_queue: {storage: file_storage}\n");
            }
        }
        let exporters: Vec<String> = (0..sinks.len()).map(|i| format!("otlp_grpc/{i}")).collect();
        let mut extensions = vec!["health_check"];
        yaml.push_str(&format!(
            "extensions:\n  health_check:\n    endpoint: 127.0.0.1:{}\n",
            ports.health
        ));
        if let Some(fsync) = self.storage_fsync() {
            extensions.push("file_storage");
            yaml.push_str(&format!(
                "  file_storage:\n    directory: {}\n    create_directory: true\n    fsync: {fsync}\n",
                Self::storage_dir(state_dir).display()
            ));
        }
        yaml.push_str(&format!(
            "service:\n  extensions: [{extensions}]\n  telemetry:\n    logs: {{level: warn}}\n    \
             metrics: {{address: 127.0.0.1:{telemetry}}}\n  pipelines:\n    traces:\n      \
             receivers: [otlp]\n      processors: [{processors}]\n      exporters: [{exporters}]\n",
            extensions = extensions.join(", "),
            telemetry = ports.telemetry,
            processors = processors.join(", "),
            exporters = exporters.join(", "),
        ));
        Some(yaml)
    }
}

/// The exporter's compression, a dimension of every scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Compression {
    /// Plain protobuf.
    None,
    /// gzip, the OpenTelemetry Collector's and Rotel's default.
    Gzip,
    /// zstd (sloop only; Rotel's OTLP exporter has no zstd).
    Zstd,
}

impl Compression {
    /// Every compression, in report order.
    pub const ALL: [Compression; 3] = [Compression::None, Compression::Gzip, Compression::Zstd];

    /// The config value, and the `grpc-encoding` a sink sees (`identity` for none).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The `grpc-encoding` header the exporter's requests carry.
    pub fn grpc_encoding(self) -> &'static str {
        match self {
            Compression::None => "identity",
            other => other.name(),
        }
    }
}

/// The config block of one processor the scenarios use.
fn processor_block(name: &str, state_dir: &Path) -> String {
    let body = match name {
        "batch" => "    timeout: 200ms\n    send_batch_size: 8192\n",
        "memory_limiter" => "    check_interval: 1s\n    limit_mib: 256\n    spike_limit_mib: 64\n",
        "attributes" => {
            "    actions:\n\
             \x20     - {key: deployment.environment.name, value: production, action: upsert}\n\
             \x20     - {key: collector.tier, value: gateway, action: insert}\n\
             \x20     - {key: app.cart.value, action: delete}\n"
        }
        "probabilistic_sampler" => "    sampling_percentage: 10\n",
        "tail_sampling" => {
            "    decision_wait: 2s\n    num_traces: 100000\n    policies:\n\
             \x20     - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n\
             \x20     - {name: the-rest, type: probabilistic, probabilistic: {sampling_percentage: 10}}\n"
        }
        "sli" => SLI,
        "slo" => {
            return format!("  slo:\n{SLO}    storage: {}\n", state_dir.display());
        }
        other => unreachable!("no benchmark config for processor {other}"),
    };
    format!("  {name}:\n{body}")
}

const SLI: &str = r#"    slis:
      - name: homepage
        when: 'name == "GET /" and kind == SPAN_KIND_SERVER'
        exclude:
          - 'IsMatch(attributes["user_agent.original"], "(?i)(bot|crawler|spider)")'
        good: 'attributes["http.response.status_code"] < 500 and duration < 300ms'
      - name: checkout
        when: 'name == "POST /checkout" and kind == SPAN_KIND_SERVER'
        good: 'status.code != STATUS_CODE_ERROR'
"#;

const SLO: &str = r#"    objectives:
      - {name: homepage, sli: homepage, target: 0.999, window: 30d}
      - {name: checkout, sli: checkout, target: 0.995, window: 30d, group_by: [service.name]}
"#;

/// The overload check: `otlp → memory_limiter → batch → otlp_grpc` into `sink`
/// (blackholed by the harness), with a short export timeout so retries cycle.
pub fn overload_config(ports: &SloopPorts, sink: &str, limit_mib: u64) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n\
         processors:\n  memory_limiter:\n    check_interval: 100ms\n    limit_mib: {limit_mib}\n    \
         spike_limit_mib: {spike}\n  batch:\n\
         exporters:\n  otlp_grpc:\n    endpoint: {sink}\n    tls: {{insecure: true}}\n    compression: none\n    \
         timeout: 1s\n\
         extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health}\n\
         service:\n  extensions: [health_check]\n  telemetry:\n    logs: {{level: warn}}\n    \
         metrics: {{address: 127.0.0.1:{telemetry}}}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      \
         processors: [memory_limiter, batch]\n      exporters: [otlp_grpc]\n",
        grpc = ports.grpc,
        spike = limit_mib / 5,
        health = ports.health,
        telemetry = ports.telemetry,
    )
}
