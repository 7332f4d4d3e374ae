use super::*;
use crate::testing::traces;

#[test]
fn verbosity_controls_detail() {
    let batch = ExportBatch::new(traces(&[&["GET /", "SELECT"]]));
    let basic = render("debug", Verbosity::Basic, &batch);
    assert_eq!(basic, "debug: traces 2 spans in 1 resource(s)\n");
    let normal = render("debug", Verbosity::Normal, &batch);
    assert!(
        normal.contains("GET / trace_id=0102030405060708090a0b0c0d0e0f10 span_id=0102030405060708 duration=250.000ms"),
        "{normal}"
    );
    assert_eq!(normal.lines().count(), 3);
    let detailed = render("debug", Verbosity::Detailed, &batch);
    assert!(detailed.contains("\"name\": \"SELECT\""), "{detailed}");
}

fn parsed(yaml: &str) -> Result<DebugConfig, Vec<ConfigError>> {
    use figment::providers::Format;
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .expect("yaml");
    parse_block::<DebugConfig>(&RawValue::from(dict))
}

#[test]
fn verbosity_is_case_insensitive_and_logging_loglevel_maps_to_it() {
    assert_eq!(parsed("verbosity: Detailed").unwrap().verbosity(), Verbosity::Detailed);
    assert_eq!(parsed("verbosity: NORMAL").unwrap().verbosity(), Verbosity::Normal);
    assert_eq!(parsed("{}").unwrap().verbosity(), Verbosity::Basic);
    assert_eq!(parsed("loglevel: debug").unwrap().verbosity(), Verbosity::Detailed);
    assert_eq!(parsed("loglevel: INFO").unwrap().verbosity(), Verbosity::Normal);
    assert_eq!(parsed("loglevel: warn").unwrap().verbosity(), Verbosity::Basic);
    let both = parsed("loglevel: debug\nverbosity: basic").unwrap_err();
    assert_eq!(both[0].path, "loglevel", "{both:?}");
    let bad = parsed("verbosity: loud").unwrap_err();
    assert!(
        bad[0].message.contains("expected one of: basic, normal, detailed"),
        "{bad:?}"
    );
}

#[test]
fn the_removed_logging_exporter_loads_as_debug_with_a_warning() {
    let config = crate::config::Config::from_yaml(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n\
         exporters:\n  logging:\n    loglevel: debug\n    sampling_initial: 5\n    sampling_thereafter: 200\n\
         service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [logging]\n",
    )
    .unwrap();
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert_eq!(config.warnings[0].path, "exporters.logging");
    assert!(
        config.warnings[0].message.contains("write \"debug\""),
        "{:?}",
        config.warnings
    );
}

#[test]
fn sampling_writes_the_first_batches_of_a_second_then_every_nth() {
    let sampler = Sampler {
        initial: 2,
        thereafter: 3,
        window: Mutex::new((Instant::now(), 0)),
    };
    let full: Vec<bool> = (0..8).map(|_| sampler.in_full()).collect();
    assert_eq!(full, [true, true, false, false, true, false, false, true]);
    // A new second starts over.
    *sampler.window.lock().unwrap() = (Instant::now() - Duration::from_secs(2), 99);
    assert!(sampler.in_full());
}
