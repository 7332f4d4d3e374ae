//! `file_storage` — a directory for persistent exporter queues, as the Collector's
//! file_storage extension. An exporter points its queue at it with
//! `sending_queue.storage: file_storage` (or `file_storage/<name>`).
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! List it in `service.extensions` too, as in the Collector. Each exporter's queue
//! lives in its own directory inside `directory` (`exporter_otlp_grpc`,
//! `exporter_otlp_grpc_backup` for `otlp_grpc/backup`) as checksummed segment files;
//! see [`crate::storage`] for the format, the group commit, and why it is a segment
//! log rather than a key-value store. A directory holds the queues of one sloop
//! process at a time (a lock file says so).
//!
//! - `fsync: false` (the default) makes what the client was told is accepted
//!   survive the process dying (`kill -9`, OOM kill, crash); `fsync: true` makes it
//!   survive the machine losing power too, at the cost of one `fdatasync` per group
//!   of writes.
//! - `compaction` is accepted for the Collector's configs and does nothing: segments
//!   are deleted as soon as everything in them is delivered, so the files never
//!   hold more than one segment of delivered data.
//! - `directory_permissions` (octal, default `0750`) applies to directories this
//!   extension creates.

#[cfg(test)]
mod tests;

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::component::registry::ExtensionFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, Extension, ExtensionConfig, ExtensionContext, Lifecycle, StartError,
};
use crate::confmap::{deserialize_duration, parse_block, ConfigError, RawValue, Validate};
use crate::storage::StorageSettings;

/// Registry entry.
pub const FACTORY: ExtensionFactory = ExtensionFactory {
    type_name: "file_storage",
    aliases: &[],
    signals: &[],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExtensionConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<FileStorageConfig>(value)?))
}

/// `extensions.file_storage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStorageConfig {
    /// Where the queues live (default `/var/lib/sloop/file_storage`).
    #[serde(default = "default_directory")]
    pub directory: PathBuf,
    /// Create `directory` (and its parents) when it does not exist (default false).
    #[serde(default)]
    pub create_directory: bool,
    /// Permissions of directories created, octal (default `0750`).
    #[serde(default = "default_permissions")]
    pub directory_permissions: String,
    /// How long one write may take before the client is refused (default 1s).
    #[serde(default = "default_timeout", deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// Sync every group commit to the device (default false).
    #[serde(default)]
    pub fsync: bool,
    /// The Collector's compaction settings: accepted, not needed (see the module docs).
    #[serde(default)]
    pub compaction: Option<Compaction>,
}

/// `compaction`, with the Collector's keys; sloop's segment log needs none of it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Compaction {
    #[serde(default)]
    on_start: bool,
    #[serde(default)]
    on_rebound: bool,
    #[serde(default)]
    directory: Option<PathBuf>,
    #[serde(default)]
    max_transaction_size: Option<u64>,
    #[serde(default)]
    rebound_needed_threshold_mib: Option<u64>,
    #[serde(default)]
    rebound_trigger_threshold_mib: Option<u64>,
    #[serde(default)]
    check_interval: Option<String>,
    #[serde(default)]
    cleanup_on_start: bool,
}

fn default_directory() -> PathBuf {
    PathBuf::from("/var/lib/sloop/file_storage")
}
fn default_permissions() -> String {
    "0750".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(1)
}

impl FileStorageConfig {
    fn permissions(&self) -> Option<u32> {
        u32::from_str_radix(self.directory_permissions.trim_start_matches("0o"), 8)
            .ok()
            .filter(|mode| *mode <= 0o7777)
    }
}

impl Validate for FileStorageConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.directory.as_os_str().is_empty() {
            errors.push(ConfigError::new("directory", "must not be empty"));
        }
        if self.timeout.is_zero() {
            errors.push(ConfigError::new("timeout", "must be greater than 0"));
        }
        if self.permissions().is_none() {
            errors.push(ConfigError::new(
                "directory_permissions",
                format!("{:?} is not an octal mode such as 0750", self.directory_permissions),
            ));
        }
        errors
    }
}

impl ExtensionConfig for FileStorageConfig {
    fn build(&self, id: &ComponentId, _ctx: &ExtensionContext) -> Result<Arc<dyn Extension>, BuildError> {
        Ok(Arc::new(FileStorage {
            id: id.clone(),
            config: self.clone(),
        }))
    }

    fn storage(&self) -> Option<StorageSettings> {
        Some(StorageSettings {
            directory: self.directory.clone(),
            fsync: self.fsync,
            timeout: self.timeout,
        })
    }
}

/// The running extension: checks at start that its directory is there (creating
/// it if asked) and writable, so a mistake is reported before any data is accepted.
pub struct FileStorage {
    id: ComponentId,
    config: FileStorageConfig,
}

impl FileStorage {
    fn prepare(&self) -> Result<(), String> {
        let dir = &self.config.directory;
        if !dir.is_dir() {
            if !self.config.create_directory {
                return Err(format!(
                    "directory {} does not exist (create it, or set create_directory: true)",
                    dir.display()
                ));
            }
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(self.config.permissions().unwrap_or(0o750))
                .create(dir)
                .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
        }
        let probe = dir.join(".sloop-write-check");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| format!("directory {} is not writable: {e}", dir.display()))
    }
}

impl Extension for FileStorage {}

impl Lifecycle for FileStorage {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move { self.prepare().map_err(|message| StartError::new(&self.id, message)) })
    }
}
