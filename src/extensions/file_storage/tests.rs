use std::sync::Arc;

use figment::providers::Format;

use super::*;
use crate::component::Pressure;

fn context() -> ExtensionContext {
    ExtensionContext {
        ready: Arc::default(),
        memory_pressure: Arc::new(Pressure::default()),
        storage_pressure: Arc::new(Pressure::default()),
        view: Arc::default(),
    }
}

fn config(yaml: &str) -> Result<FileStorageConfig, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    parse_block::<FileStorageConfig>(&RawValue::from(dict))
}

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "sloop-file-storage-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ))
}

#[test]
fn the_collector_keys_parse_and_compaction_is_accepted() {
    let config = config(
        "directory: /tmp/q\ncreate_directory: true\nfsync: true\ntimeout: 2s\ncompaction:\n  on_start: true\n  on_rebound: true\n  directory: /tmp\n  max_transaction_size: 65536\n",
    )
    .unwrap();
    let settings = config.storage().unwrap();
    assert_eq!(settings.directory, PathBuf::from("/tmp/q"));
    assert!(settings.fsync);
    assert_eq!(settings.timeout, Duration::from_secs(2));
}

#[test]
fn bad_values_are_reported_by_key() {
    let errors = config("timeout: 0s\ndirectory_permissions: rwx\n").unwrap_err();
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert!(text.iter().any(|e| e.contains("timeout")), "{text:?}");
    assert!(text.iter().any(|e| e.contains("directory_permissions")), "{text:?}");
    assert!(config("direcotry: /x\n").is_err(), "unknown keys are refused");
}

#[tokio::test]
async fn start_refuses_a_missing_directory_unless_asked_to_create_it() {
    let dir = temp_dir();
    let yaml = format!("directory: {}\n", dir.display());
    let id = ComponentId::parse("file_storage").unwrap();
    let extension = config(&yaml).unwrap().build(&id, &context()).unwrap();
    let error = extension.start().await.unwrap_err();
    assert!(error.to_string().contains("create_directory"), "{error}");
    assert!(!dir.exists());

    let yaml = format!("directory: {}\ncreate_directory: true\n", dir.display());
    let extension = config(&yaml).unwrap().build(&id, &context()).unwrap();
    extension.start().await.unwrap();
    assert!(dir.is_dir());
}
