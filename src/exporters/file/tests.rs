use super::*;
use crate::testing::traces;

#[tokio::test]
async fn appends_one_otlp_json_line_per_batch() {
    let path = std::env::temp_dir().join(format!("sloop-file-exporter-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let config = FileConfig {
        path: path.clone(),
        format: Default::default(),
    };
    let exporter = config.exporter(&ComponentId::parse("file").unwrap()).unwrap();
    let first = traces(&[&["a"]]);
    let second = traces(&[&["b", "c"]]);
    exporter.export(&ExportBatch::new(first.clone())).await.unwrap();
    exporter.export(&ExportBatch::new(second.clone())).await.unwrap();
    exporter.shutdown().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let decoded: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
        serde_json::from_str(lines[1]).unwrap();
    assert_eq!(crate::pdata::Telemetry::Traces(decoded), second);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn missing_directory_is_a_config_error() {
    let errors = crate::confmap::parse_block::<FileConfig>(&figment::value::Value::from(figment::util::map! {
        "path" => "/nonexistent-dir/out.jsonl",
    }))
    .unwrap_err();
    assert_eq!(errors[0].path, "path");
}
