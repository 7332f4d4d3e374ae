use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

use super::*;

const CONFIG: &str = include_str!("../../examples/sli-tests/sloop.yaml");
const TESTS: &str = include_str!("../../examples/sli-tests/homepage.tests.yaml");

fn config(text: &str) -> Config {
    Config::from_yaml(text).unwrap_or_else(|e| panic!("config refused: {e}"))
}

fn parse(text: &str) -> TestFile {
    TestFile::parse("t.yaml", text).unwrap_or_else(|e| panic!("test file refused: {e}"))
}

fn parse_err(text: &str) -> TestFileError {
    match TestFile::parse("t.yaml", text) {
        Ok(file) => panic!("accepted: {file:?}"),
        Err(e) => e,
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn run_all(config_text: &str, tests: &str, only: Option<&str>) -> Result<Report, Vec<String>> {
    let config = config(config_text);
    let catalog = SliCatalog::from_config(&config, only).unwrap_or_else(|e| panic!("{e}"));
    run(&[parse(tests)], &catalog)
}

#[test]
fn the_fixture_passes_against_its_config() {
    let report = run_all(CONFIG, TESTS, None).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(report.cases, 14);
    // One check per SLI named in an expect: 16 in the fixture.
    assert_eq!(report.checks.len(), 16);
    assert_eq!(report.failed(), 0, "{}", report.render(true));
    assert!(report
        .render(false)
        .ends_with("16 checks in 14 cases: 16 passed, 0 failed\n"));
    // Every verdict appears, so a classifier stuck on one answer would fail.
    for verdict in [Verdict::Good, Verdict::Bad, Verdict::None] {
        assert!(report.checks.iter().any(|c| c.got == verdict), "no {verdict} verdict");
    }
}

#[test]
fn a_changed_threshold_is_a_diff_naming_the_case_the_sli_and_the_condition() {
    let broken = CONFIG.replace("duration < 300ms", "duration < 3000ms");
    assert_ne!(broken, CONFIG);
    let report = run_all(&broken, TESTS, None).unwrap_or_else(|e| panic!("{e:?}"));
    let failed: Vec<&Check> = report.checks.iter().filter(|c| !c.passed()).collect();
    assert_eq!(failed.len(), 1, "{}", report.render(false));
    let check = failed[0];
    assert_eq!(
        check.headline(),
        "case 'slow homepage render is bad' (t.yaml:13): SLI homepage: expected bad, got good"
    );
    assert_eq!(
        check.decided_by,
        "processors.sli/web.slis[0].good, which holds: attributes[\"http.response.status_code\"] == 200 and duration < 3000ms"
    );
    let text = report.render(false);
    assert!(text.starts_with(&check.headline()), "{text}");
    assert!(text.ends_with("16 checks in 14 cases: 15 passed, 1 failed\n"), "{text}");
    // Passed checks show only with verbose.
    assert!(!text.contains("ok: "));
    assert!(report
        .render(true)
        .contains("ok: case 'fast homepage render is good' (t.yaml:3): SLI homepage: expected good, got good"));
}

#[test]
fn the_diff_says_which_condition_decided() {
    let broken = CONFIG.replace("kind == SPAN_KIND_SERVER", "kind == SPAN_KIND_CLIENT");
    let report = run_all(&broken, TESTS, None).unwrap_or_else(|e| panic!("{e:?}"));
    let find = |case: &str| {
        report
            .checks
            .iter()
            .find(|c| c.case == case && c.sli == "homepage")
            .unwrap_or_else(|| panic!("no check of {case}"))
    };
    let fast = find("fast homepage render is good");
    assert_eq!(fast.got, Verdict::None);
    assert_eq!(
        fast.decided_by,
        "processors.sli/web.slis[0].when, which does not hold: name == \"GET /\" and kind == SPAN_KIND_CLIENT"
    );
    // The client span is now eligible, and without a status code it is bad.
    let client = find("the browser's client span is not the homepage");
    assert_eq!(client.got, Verdict::Bad);
    assert!(client
        .decided_by
        .starts_with("processors.sli/web.slis[0].good, which does not hold: "));
    // An exclude is named by its index.
    let mut crawler = parse(TESTS);
    crawler.cases.retain(|c| c.name == "crawlers are excluded");
    let config = config(CONFIG);
    let catalog = SliCatalog::from_config(&config, None).unwrap();
    let report = run(&[crawler], &catalog).unwrap();
    assert_eq!(
        report.checks[0].decided_by,
        "processors.sli/web.slis[0].exclude[1], which holds: IsMatch(attributes[\"user_agent.original\"], \"(?i)bot|crawler|spider\")"
    );
}

#[test]
fn samples_become_otlp_events_with_yaml_types_kept() {
    let file = parse(TESTS);
    assert_eq!(file.cases[0].line, 3);
    let Sample::Span { resource, scope, span } = &file.cases[0].sample else {
        panic!("not a span")
    };
    assert_eq!(span.name, "GET /");
    assert_eq!(span.kind, 2, "server");
    assert_eq!(span.end_time_unix_nano - span.start_time_unix_nano, 120_000_000);
    assert_eq!(span.status.as_ref().map(|s| s.code), Some(1), "ok");
    assert_eq!(
        attribute(&span.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(200))
    );
    assert_eq!(
        attribute(&resource.attributes, "service.name"),
        Some(&any_value::Value::StringValue("web".into()))
    );
    assert!(scope.is_none());
    // A quoted number is a string.
    let Sample::Span { span, .. } = &file.cases[3].sample else {
        panic!()
    };
    assert_eq!(
        attribute(&span.attributes, "http.response.status_code"),
        Some(&any_value::Value::StringValue("200".into()))
    );
    // A span without status has none, as a receiver decodes it.
    let Sample::Span { span, .. } = &file.cases[1].sample else {
        panic!()
    };
    assert!(span.status.is_none());

    let typed = parse(
        "cases:
  - name: every type
    log:
      body: {user: ana, tries: [1, 2.5, true]}
      severity_number: warn2
      severity_text: WARN
      duration: 250ms
      attributes: {ratio: 0.5, ok: false, tags: [a, b]}
      scope: {name: nginx-parser, version: '1.0', attributes: {x: 1}}
    expect: {site: none}
",
    );
    let Sample::Log { log, scope, .. } = &typed.cases[0].sample else {
        panic!()
    };
    assert_eq!(log.severity_number, 14, "WARN2");
    assert_eq!(log.severity_text, "WARN");
    assert_eq!(
        attribute(&log.attributes, "http.server.request.duration"),
        Some(&any_value::Value::DoubleValue(0.25))
    );
    assert_eq!(
        attribute(&log.attributes, "ratio"),
        Some(&any_value::Value::DoubleValue(0.5))
    );
    assert_eq!(
        attribute(&log.attributes, "ok"),
        Some(&any_value::Value::BoolValue(false))
    );
    let Some(any_value::Value::ArrayValue(tags)) = attribute(&log.attributes, "tags") else {
        panic!("tags is not a list")
    };
    assert_eq!(tags.values.len(), 2);
    let Some(AnyValue {
        value: Some(any_value::Value::KvlistValue(body)),
    }) = &log.body
    else {
        panic!("body is not a map: {:?}", log.body)
    };
    assert_eq!(body.values[0].key, "user");
    let scope = scope.as_ref().expect("scope");
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("nginx-parser", "1.0"));
    assert_eq!(log.time_unix_nano, SAMPLE_TIME_UNIX_NANO);
}

#[test]
fn a_log_duration_is_what_conditions_read_as_duration() {
    // Both ways of giving a log record's duration classify alike.
    let config_text = "
receivers: {otlp: {protocols: {grpc: {endpoint: localhost:4317}}}}
processors:
  sli:
    slis:
      - name: fast
        good: duration < 100ms
exporters: {debug: {}}
service: {pipelines: {logs: {receivers: [otlp], processors: [sli], exporters: [debug]}}}
";
    let tests = "cases:
  - {name: key 50ms, log: {duration: 50ms}, expect: {fast: good}}
  - {name: attribute 50ms, log: {attributes: {http.server.request.duration: 0.05}}, expect: {fast: good}}
  - {name: attribute int 2s, log: {attributes: {http.server.request.duration: 2}}, expect: {fast: bad}}
  - {name: key 150ms, log: {duration: 150ms}, expect: {fast: bad}}
  - {name: none, log: {body: x}, expect: {fast: bad}}
";
    let report = run_all(config_text, tests, None).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(report.failed(), 0, "{}", report.render(true));
    let both = parse_err(
        "cases:\n  - name: twice\n    log: {duration: 1s, attributes: {http.server.request.duration: 1}}\n    expect: {a: good}\n",
    );
    assert_eq!(both.line, Some(2));
    assert!(
        both.message
            .starts_with("cases[0] (\"twice\").log.duration: the attribute http.server.request.duration"),
        "{both}"
    );
}

#[test]
fn file_errors_give_file_line_column_and_what() {
    // An unknown key, deep in a case.
    let e =
        parse_err("cases:\n  - name: a\n    span:\n      name: GET /\n      kindd: server\n    expect: {x: good}\n");
    assert_eq!((e.file.as_str(), e.line, e.column), ("t.yaml", Some(5), Some(7)), "{e}");
    assert!(e.message.contains("kindd"), "{e}");
    assert!(e.to_string().starts_with("t.yaml:5:7: "), "{e}");
    // Values the format does not know.
    for (text, line, words) in [
        (
            "cases:\n  - name: a\n    span: {kind: sever}\n    expect: {x: good}\n",
            3,
            "sever",
        ),
        (
            "cases:\n  - name: a\n    span: {status: failed}\n    expect: {x: good}\n",
            3,
            "failed",
        ),
        (
            "cases:\n  - name: a\n    span: {duration: 120}\n    expect: {x: good}\n",
            3,
            "missing unit",
        ),
        (
            "cases:\n  - name: a\n    span: {}\n    expect: {x: fine}\n",
            4,
            "unknown verdict \"fine\", expected good, bad or none",
        ),
        (
            "cases:\n  - name: a\n    log: {severity_number: 25}\n    expect: {x: good}\n",
            3,
            "out of range",
        ),
        (
            "cases:\n  - name: a\n    span:\n      attributes: {k: null}\n    expect: {x: good}\n",
            4,
            "null",
        ),
        (
            "cases:\n  - name: a\n    span:\n      attributes: {k: 1, k: 2}\n    expect: {x: good}\n",
            4,
            "",
        ),
    ] {
        let e = parse_err(text);
        assert_eq!(e.line, Some(line), "{text}: {e}");
        assert!(e.message.contains(words), "{text}: {e}");
    }
    // Checks on the case as a whole are at its name's line, with the path.
    for (text, words) in [
        (
            "cases:\n  - name: a\n    expect: {x: good}\n",
            "cases[0] (\"a\"): give the event to classify: span or log",
        ),
        (
            "cases:\n  - name: a\n    span: {}\n    log: {}\n    expect: {x: good}\n",
            "cases[0] (\"a\"): give either span or log",
        ),
        (
            "cases:\n  - name: a\n    span: {}\n    expect: {}\n",
            "cases[0] (\"a\").expect: name at least one SLI",
        ),
    ] {
        let e = parse_err(text);
        assert_eq!(e.line, Some(2), "{text}: {e}");
        assert!(e.message.starts_with(words), "{text}: {e}");
    }
    let e = parse_err(
        "cases:\n  - name: a\n    span: {}\n    expect: {x: good}\n  - name: a\n    span: {}\n    expect: {x: bad}\n",
    );
    assert_eq!(e.line, Some(5));
    assert!(e.message.contains("also the name of the case at line 2"), "{e}");
    let e = parse_err("cases: []\n");
    assert!(e.message.contains("no case"), "{e}");
    let e = parse_err("cases:\n  - name: a\n    span: {}\n    expect: {x: good}\nextra: 1\n");
    assert_eq!(e.line, Some(5), "{e}");
    let e = parse_err("cases: [\n");
    assert!(e.line.is_some(), "a syntax error has a position: {e}");
}

#[test]
fn unusable_expectations_are_all_reported_before_anything_runs() {
    let tests = "cases:
  - name: typo
    span: {name: GET /}
    expect: {homepag: good}
  - name: log on a span SLI
    log: {body: x}
    expect: {homepage: none}
  - name: unknown
    span: {}
    expect: {latency: good}
";
    let errors = run_all(CONFIG, tests, None).expect_err("ran");
    assert_eq!(
        errors,
        [
            "case 'typo' (t.yaml:2): expect.homepag: no sli processor defines the SLI homepag, did you mean homepage?",
            "case 'log on a span SLI' (t.yaml:5): expect.homepage: processors.sli/web.slis[0] cannot classify a log record (slis[0].when: name is only available for spans, span events, metrics and scopes, not in log conditions (line 1, column 1 of the condition))",
            "case 'unknown' (t.yaml:8): expect.latency: no sli processor defines the SLI latency (defined: checkout, homepage, site)",
        ]
        .map(String::from)
    );
}

#[test]
fn an_sli_two_processors_define_is_an_error_unless_one_is_chosen() {
    let twice = CONFIG.replace("- name: site", "- name: homepage");
    let tests = "cases:\n  - name: a\n    span: {name: GET /, kind: server}\n    expect: {homepage: bad}\n";
    let errors = run_all(&twice, tests, None).expect_err("ran");
    assert_eq!(
        errors,
        ["case 'a' (t.yaml:2): expect.homepage: SLI homepage is defined more than once: processors.sli/edge.slis[0] and processors.sli/web.slis[0]; test one processor at a time with --processor sli/edge"]
    );
    let report = run_all(&twice, tests, Some("sli/web")).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(report.failed(), 0, "{}", report.render(true));
    // Only the chosen processor's SLIs are known.
    let config = config(CONFIG);
    let catalog = SliCatalog::from_config(&config, Some("sli/edge")).unwrap();
    assert_eq!(catalog.names().collect::<Vec<_>>(), ["site"]);
    assert_eq!(
        SliCatalog::from_config(&config, Some("sli/wbe")).unwrap_err(),
        "--processor sli/wbe: no sli processor has that id, did you mean sli/web?"
    );
    let no_sli = "
receivers: {otlp: {protocols: {grpc: {endpoint: localhost:4317}}}}
exporters: {debug: {}}
service: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}
";
    assert!(SliCatalog::from_config(&super::tests::config(no_sli), None)
        .unwrap_err()
        .contains("no sli processor"));
}

#[test]
fn slis_no_case_checks_are_listed() {
    let tests = "cases:\n  - name: a\n    span: {name: GET /}\n    expect: {homepage: none}\n";
    let config = config(CONFIG);
    let catalog = SliCatalog::from_config(&config, None).unwrap();
    let report = run(&[parse(tests)], &catalog).unwrap();
    assert_eq!(report.unchecked(&catalog), ["checkout", "site"]);
}

/// The README's "Testing SLIs" section: its config and its test file, run together.
#[test]
fn the_readme_example_passes() {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## Testing SLIs")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a \"Testing SLIs\" section");
    let blocks: Vec<&str> = section
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    let config_block = blocks
        .iter()
        .find(|b| b.contains("processors:"))
        .expect("a config block");
    let tests_block = blocks
        .iter()
        .find(|b| b.starts_with("cases:"))
        .expect("a test-file block");
    let config_text = format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: localhost:4317}}}}}}}}
exporters: {{debug: {{}}}}
{config_block}service: {{pipelines: {{traces: {{receivers: [otlp], processors: [sli], exporters: [debug]}}}}}}
"
    );
    let report = run_all(&config_text, tests_block, None).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(report.checks.len() >= 3);
    assert_eq!(report.failed(), 0, "{}", report.render(true));
    // The output the section shows is what the broken threshold it shows gives.
    let shown = section
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a text block with the output");
    let (command, output) = shown.split_once('\n').expect("a command line, then its output");
    assert!(command.starts_with("$ sloop test"), "{command}");
    let broken = config_text.replace("duration < 300ms", "duration < 3000ms");
    let config = config(&broken);
    let catalog = SliCatalog::from_config(&config, None).unwrap();
    let file = TestFile::parse("slis.tests.yaml", tests_block).unwrap();
    let report = run(&[file], &catalog).unwrap();
    assert_eq!(report.render(false), output);
}
