//! Tests of the OpenSLO import and export: the spec's own examples, a sloop-flavoured
//! fixture, round trips through a parsed config, and every refusal.

use std::time::Duration;

use super::import::{check_start, default_short, shorthand, slug, weekday};
use super::*;
use crate::config::Config;

const SPEC_INLINE_SLO: &str = include_str!("../../examples/openslo/spec-readme-inline-slo.yaml");
const SPEC_RATIO_METRIC: &str = include_str!("../../examples/openslo/spec-readme-ratio-metric.yaml");
const SPEC_RATIO_TIMESLICES: &str = include_str!("../../examples/openslo/spec-ratio-timeslices.yaml");
const SLOOP_SHOP: &str = include_str!("../../examples/openslo/sloop-shop.yaml");

/// A receiver, an exporter and a traces pipeline through `sli` and `slo`: what the
/// imported `processors:` section completes into a config.
const BASE: &str = "\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [sli, slo]
      exporters: [debug]
";

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86400);

fn import_one(text: &str) -> Result<(SloopObjectives, Vec<String>), ImportErrors> {
    import(&[("test.yaml".to_string(), text.to_string())])
}

fn errors_of(text: &str) -> Vec<ImportError> {
    match import_one(text) {
        Ok((objectives, _)) => panic!("expected errors, imported {objectives:#?}"),
        Err(ImportErrors(errors)) => errors,
    }
}

/// The parsed config the import's output makes with [`BASE`].
fn config_of(objectives: &SloopObjectives) -> Config {
    let yaml = objectives.to_config_yaml(&["test.yaml".into()], &[]).unwrap();
    Config::from_yaml(&format!("{BASE}{yaml}")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn rule(long: Duration, short: Duration, burn_rate: f64) -> BurnRate {
    BurnRate { long, short, burn_rate }
}

/// Asserts that `errors` are exactly at `paths` (in order), each in `place`.
fn assert_paths(errors: &[ImportError], place: &str, paths: &[&str]) {
    let found: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(found, paths, "{errors:#?}");
    for error in errors {
        assert!(error.place.contains(place), "{error} is not in {place}");
    }
}

#[test]
fn the_spec_readme_inline_slo_is_refused_at_both_datadog_queries() {
    let errors = errors_of(SPEC_INLINE_SLO);
    assert_paths(
        &errors,
        "test.yaml, document 1 (SLO foo-slo)",
        &[
            "spec.indicator.spec.ratioMetric.good.metricSource.type",
            "spec.indicator.spec.ratioMetric.total.metricSource.type",
            "spec.budgetingMethod",
        ],
    );
    for error in &errors[..2] {
        assert!(error.message.contains("\"Datadog\""), "{error}");
        assert!(error.message.contains("type: sloop"), "{error}");
    }
    assert!(errors[0].message.contains("condition: '<condition>'"), "{}", errors[0]);
    assert!(errors[1].message.contains("when: '<condition>'"), "{}", errors[1]);
    assert!(errors[2].message.contains("Occurrences"), "{}", errors[2]);
}

#[test]
fn the_spec_readme_ratio_metric_is_refused_at_both_prometheus_queries() {
    let errors = errors_of(SPEC_RATIO_METRIC);
    assert_paths(
        &errors,
        "test.yaml, document 1 (SLI localhost-requests)",
        &[
            "spec.ratioMetric.good.metricSource.type",
            "spec.ratioMetric.total.metricSource.type",
        ],
    );
    for error in &errors {
        assert!(error.message.contains("sloop cannot query Prometheus"), "{error}");
    }
}

#[test]
fn the_spec_ratio_timeslices_example_is_refused_at_every_part_sloop_cannot_express() {
    let errors = errors_of(SPEC_RATIO_TIMESLICES);
    assert_paths(
        &errors,
        "test.yaml, document 1 (SLO main-page)",
        &[
            "spec.indicator.spec.ratioMetric.good.metricSource.type",
            "spec.indicator.spec.ratioMetric.total.metricSource.type",
            "spec.budgetingMethod",
            "spec.objectives[0].op",
        ],
    );
    assert!(errors[0].message.contains("\"Any\""), "{}", errors[0]);
    assert!(errors[2].message.contains("RatioTimeslices"), "{}", errors[2]);
}

#[test]
fn errors_of_several_files_are_reported_together() {
    let errors = import(&[
        ("a.yaml".to_string(), SPEC_INLINE_SLO.to_string()),
        ("b.yaml".to_string(), SPEC_RATIO_METRIC.to_string()),
    ])
    .unwrap_err();
    let places: Vec<&str> = errors.0.iter().map(|e| e.place.as_str()).collect();
    assert_eq!(places.iter().filter(|p| p.starts_with("a.yaml")).count(), 3, "{errors}");
    assert_eq!(places.iter().filter(|p| p.starts_with("b.yaml")).count(), 2, "{errors}");
    let text = errors.to_string();
    assert!(text.contains("5 problem(s)"), "{text}");
}

#[test]
fn the_sloop_fixture_imports_into_a_config_sloop_accepts() {
    let (imported, notes) = import_one(SLOOP_SHOP).unwrap_or_else(|e| panic!("{e}"));
    let homepage = Sli {
        name: "homepage".into(),
        when: Some(r#"name == "GET /" and kind == SPAN_KIND_SERVER"#.into()),
        exclude: vec![
            r#"attributes["synthetic.load_test"] == true"#.into(),
            r#"IsMatch(attributes["user_agent.original"], "(?i)bot|crawler|spider")"#.into(),
        ],
        good: r#"attributes["http.response.status_code"] == 200 and duration < 300ms"#.into(),
    };
    let checkout = Sli {
        name: "checkout".into(),
        when: Some(r#"name == "POST /checkout""#.into()),
        exclude: vec![],
        good: "not (status.code == STATUS_CODE_ERROR)".into(),
    };
    assert_eq!(imported.slis, vec![homepage.clone(), checkout.clone()]);
    let names: Vec<&str> = imported.objectives.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "homepage-availability",
            "checkout-checkouts-succeed",
            "checkout-checkouts-mostly-succeed"
        ]
    );
    let homepage_slo = &imported.objectives[0];
    assert_eq!(homepage_slo.sli, "homepage");
    assert_eq!(homepage_slo.target, 0.999);
    assert_eq!(homepage_slo.window, Some(Window::Rolling(28 * DAY)));
    assert_eq!(homepage_slo.group_by, ["customer.segment"]);
    assert_eq!(homepage_slo.max_groups, Some(20));
    assert_eq!(homepage_slo.alerting.page, Some(vec![rule(HOUR, 5 * MINUTE, 14.4)]));
    assert_eq!(homepage_slo.alerting.ticket, Some(vec![rule(3 * DAY, 6 * HOUR, 1.0)]));
    for (objective, target) in imported.objectives[1..].iter().zip([0.99, 0.95]) {
        assert_eq!(objective.sli, "checkout");
        assert_eq!(objective.target, target);
        assert_eq!(objective.window, Some(Window::Month));
        // No alertPolicies: sloop's defaults, said in a note.
        assert_eq!(objective.alerting, Alerting::default());
    }
    assert!(notes.iter().any(|n| n.contains("default alert rules")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("notification targets")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("Service")), "{notes:?}");

    // The parsed config has exactly these objectives.
    let config = config_of(&imported);
    let parsed = objectives_of(&config).unwrap();
    assert_eq!(parsed.slis, vec![homepage, checkout]);
    let checkout_parsed = &parsed.objectives[1];
    assert_eq!(checkout_parsed.window, Some(Window::Month));
    let defaults = crate::processors::slo::AlertingConfig::default();
    assert_eq!(
        checkout_parsed.alerting.page.as_ref().map(Vec::len),
        Some(defaults.page.len())
    );
    assert_eq!(parsed.objectives[0].alerting.page, homepage_slo.alerting.page);
    assert_eq!(parsed.objectives[0].max_groups, Some(20));
}

/// Import → config → export → import → config: both configs have the same SLIs and
/// objectives, field by field.
fn assert_round_trip(config_yaml: &str) -> String {
    let first = Config::from_yaml(config_yaml).unwrap_or_else(|e| panic!("{e}"));
    let objectives = objectives_of(&first).unwrap();
    let exported = export(&objectives, "shop", "first.yaml").unwrap();
    let (imported, _) = import_one(&exported).unwrap_or_else(|e| panic!("{e}\n{exported}"));
    let second = config_of(&imported);
    assert_eq!(objectives_of(&second).unwrap(), objectives, "{exported}");
    exported
}

#[test]
fn round_trip_of_the_sloop_fixture_gives_the_same_objectives() {
    let (imported, _) = import_one(SLOOP_SHOP).unwrap();
    let yaml = imported.to_config_yaml(&[], &[]).unwrap();
    let exported = assert_round_trip(&format!("{BASE}{yaml}"));
    assert!(exported.contains("service: shop"), "{exported}");
    assert!(exported.contains("sloop/group-by: customer.segment"), "{exported}");
}

#[test]
fn round_trip_keeps_windows_alert_rules_and_settings() {
    let config = format!(
        "{BASE}\
processors:
  sli:
    slis:
      - name: api
        good: 'status.code != STATUS_CODE_ERROR and duration < 250ms'
      - name: 'logs.lb'
        when: 'attributes[\"http.route\"] != \"/healthz\"'
        exclude: ['attributes[\"user_agent.original\"] == \"probe\"']
        good: 'attributes[\"http.response.status_code\"] < 500'
  slo:
    objectives:
      - name: api-week
        sli: api
        target: 0.995
        calendar: week
        alerting:
          page: [{{long: 2h, short: 10m, burn_rate: 10}}]
          ticket: []
          min_events: 3
      - name: api-default
        sli: api
        target: 0.9
      - name: lb-quiet
        sli: logs.lb
        target: 0.99
        window: 90m
        group_by: [cloud.region, app.version]
        alerting:
          page: []
          ticket: []
"
    );
    let exported = assert_round_trip(&config);
    assert!(exported.contains("sloop/alerts: none"), "{exported}");
    assert!(exported.contains("sloop/min-events: \"3\""), "{exported}");
    assert!(exported.contains("duration: 1w"), "{exported}");
    assert!(exported.contains("duration: 90m"), "{exported}");
}

#[test]
fn export_refuses_an_objective_whose_sli_is_classified_upstream() {
    let config = Config::from_yaml(&format!(
        "{BASE}\
processors:
  sli:
    slis: [{{name: a, good: 'duration < 1s'}}]
  slo:
    trust_upstream_verdicts: true
    objectives: [{{name: b, sli: elsewhere, target: 0.99}}]
"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let error = objectives_of(&config).unwrap_err().to_string();
    assert!(
        error.contains("\"elsewhere\"") && error.contains("trust_upstream_verdicts"),
        "{error}"
    );
}

/// An SLO around `indicator` (an SLI spec), with `extra` spec lines.
fn slo_with(indicator: &str, extra: &str) -> String {
    format!(
        "apiVersion: openslo/v1
kind: SLO
metadata:
  name: s
spec:
  indicator:
    metadata:
      name: i
    spec:
{indicator}
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
{extra}"
    )
}

const SLOOP_RATIO: &str = "      ratioMetric:
        good: {metricSource: {type: sloop, spec: {condition: 'duration < 1s'}}}
        total: {metricSource: {type: sloop}}";

#[test]
fn the_indicators_sloop_cannot_express_are_refused() {
    let threshold = slo_with("      thresholdMetric: {metricSource: {type: sloop, spec: {}}}", "");
    assert_paths(
        &errors_of(&threshold),
        "(SLO s)",
        &["spec.indicator.spec.thresholdMetric"],
    );
    let raw = slo_with(
        "      ratioMetric: {rawType: success, raw: {metricSource: {type: sloop}}}",
        "",
    );
    assert_paths(
        &errors_of(&raw),
        "(SLO s)",
        &[
            "spec.indicator.spec.ratioMetric.raw",
            "spec.indicator.spec.ratioMetric.rawType",
        ],
    );
    let both = slo_with(
        "      ratioMetric:
        good: {metricSource: {type: sloop, spec: {condition: 'duration < 1s'}}}
        bad: {metricSource: {type: sloop, spec: {condition: 'duration > 1s'}}}",
        "",
    );
    assert_paths(
        &errors_of(&both),
        "(SLO s)",
        &[
            "spec.indicator.spec.ratioMetric",
            "spec.indicator.spec.ratioMetric.total",
        ],
    );
    let typo = slo_with(
        "      ratioMetric:
        good: {metricSource: {type: Sloop, spec: {conditon: 'duration < 1s'}}}
        total: {metricSource: {type: sloop, spec: {whenn: x}}}",
        "",
    );
    assert_paths(
        &errors_of(&typo),
        "(SLO s)",
        &[
            "spec.indicator.spec.ratioMetric.good.metricSource.spec.conditon",
            "spec.indicator.spec.ratioMetric.good.metricSource.spec.condition",
            "spec.indicator.spec.ratioMetric.total.metricSource.spec.whenn",
        ],
    );
    let unknown_source = slo_with(
        "      ratioMetric:
        good: {metricSource: {metricSourceRef: prom, spec: {query: up}}}
        total: {metricSource: {metricSourceRef: prom}}",
        "",
    );
    let with_data_source = format!(
        "apiVersion: openslo/v1\nkind: DataSource\nmetadata: {{name: prom}}\nspec: {{type: Prometheus}}\n---\n{unknown_source}"
    );
    let errors = errors_of(&with_data_source);
    assert_paths(
        &errors,
        "(SLO s)",
        &[
            "spec.indicator.spec.ratioMetric.good.metricSource.metricSourceRef",
            "spec.indicator.spec.ratioMetric.total.metricSource.metricSourceRef",
        ],
    );
    assert!(
        errors[0].message.contains("sloop cannot query Prometheus"),
        "{}",
        errors[0]
    );
    assert_paths(
        &errors_of(&unknown_source),
        "(SLO s)",
        &[
            "spec.indicator.spec.ratioMetric.good.metricSource.metricSourceRef",
            "spec.indicator.spec.ratioMetric.total.metricSource.metricSourceRef",
        ],
    );
}

#[test]
fn a_bad_condition_is_the_negation_of_good() {
    let (imported, _) = import_one(&slo_with(
        "      ratioMetric:
        bad: {metricSource: {type: sloop, spec: {condition: 'duration > 1s or status.code == STATUS_CODE_ERROR'}}}
        total: {metricSource: {type: sloop, spec: {}}}",
        "",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        imported.slis[0].good,
        "not (duration > 1s or status.code == STATUS_CODE_ERROR)"
    );
    assert_eq!(imported.slis[0].when, None);
}

#[test]
fn windows_map_to_rolling_windows_and_utc_calendars_and_the_rest_is_refused() {
    let window = |lines: &str| -> Result<Option<Window>, Vec<ImportError>> {
        import_one(&slo_with(SLOOP_RATIO, &format!("  timeWindow:\n{lines}")))
            .map(|(o, _)| o.objectives[0].window)
            .map_err(|e| e.0)
    };
    assert_eq!(
        window("    - {duration: 2w, isRolling: true}"),
        Ok(Some(Window::Rolling(14 * DAY)))
    );
    assert_eq!(window("    - {duration: 4d}"), Ok(Some(Window::Rolling(4 * DAY))));
    assert_eq!(
        window("    - {duration: 1w, calendar: {startTime: '2024-01-08 00:00:00', timeZone: Etc/UTC}}"),
        Ok(Some(Window::Week))
    );
    assert_eq!(
        window("    - {duration: 1M, isRolling: false, calendar: {startTime: '2020-03-01T00:00:00Z'}}"),
        Ok(Some(Window::Month))
    );
    let refused = |lines: &str, path: &str, says: &str| {
        let errors = window(lines).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].path, path, "{errors:#?}");
        assert!(errors[0].message.contains(says), "{}", errors[0]);
    };
    refused(
        "    - {duration: 1M, isRolling: true}",
        "spec.timeWindow[0].duration",
        "30d",
    );
    refused(
        "    - {duration: 30x}",
        "spec.timeWindow[0].duration",
        "invalid duration",
    );
    refused(
        "    - {duration: 1Q, calendar: {startTime: '2024-01-01 00:00:00', timeZone: UTC}}",
        "spec.timeWindow[0].duration",
        "one month (1M) or one week (1w)",
    );
    refused(
        "    - {duration: 1M, calendar: {startTime: '2020-01-21 12:30:00', timeZone: UTC}}",
        "spec.timeWindow[0].calendar.startTime",
        "start on the 1st",
    );
    refused(
        "    - {duration: 1w, calendar: {startTime: '2024-01-03 00:00:00', timeZone: UTC}}",
        "spec.timeWindow[0].calendar.startTime",
        "Monday",
    );
    refused(
        "    - {duration: 1M, calendar: {startTime: '2024-01-01 00:00:00', timeZone: America/New_York}}",
        "spec.timeWindow[0].calendar.timeZone",
        "UTC",
    );
    refused(
        "    - {duration: 1M, isRolling: false}",
        "spec.timeWindow[0].calendar",
        "needs a calendar",
    );
    // sloop's own limits on windows, at the document the window came from.
    let errors = window("    - {duration: 30m}").unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("processors.slo.objectives[0].window")),
        "{errors:#?}"
    );
    for error in &errors {
        assert!(error.place.contains("(SLO s), spec.objectives[0]"), "{error}");
    }
}

#[test]
fn burn_rate_conditions_map_to_page_and_ticket_rules_and_the_rest_is_refused() {
    let policies = |conditions: &[&str]| {
        let mut extra = "  alertPolicies:\n".to_string();
        for condition in conditions {
            extra.push_str(&format!(
                "    - kind: AlertPolicy\n      metadata: {{name: p}}\n      spec:\n        conditions:\n          \
                 - kind: AlertCondition\n            metadata: {{name: c}}\n            spec: {condition}\n"
            ));
        }
        import_one(&slo_with(SLOOP_RATIO, &extra))
            .map(|(o, _)| o.objectives[0].alerting.clone())
            .map_err(|e| e.0)
    };
    let alerting = policies(&[
        "{severity: critical, condition: {kind: burnrate, op: gt, threshold: 14.4, lookbackWindow: 1h, alertAfter: 5m}}",
        "{severity: warning, condition: {op: gte, threshold: 3, lookbackWindow: 1d}}",
        "{severity: Ticket, condition: {op: gt, threshold: 1, lookbackWindow: 3d, alertAfter: 0m}}",
    ])
    .unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(alerting.page, Some(vec![rule(HOUR, 5 * MINUTE, 14.4)]));
    // Without alertAfter, the short window is a twelfth of the long one.
    assert_eq!(
        alerting.ticket,
        Some(vec![rule(DAY, 2 * HOUR, 3.0), rule(3 * DAY, 6 * HOUR, 1.0)])
    );

    // The README's inline AlertCondition alerts below its threshold.
    let errors = policies(&[
        "{severity: page, condition: {kind: burnrate, op: lte, threshold: 2, lookbackWindow: 1h, alertAfter: 5m}}",
    ])
    .unwrap_err();
    assert_paths(
        &errors,
        "(SLO s)",
        &["spec.alertPolicies[0].spec.conditions[0].spec.condition.op"],
    );
    assert!(errors[0].message.contains("above"), "{}", errors[0]);

    let errors = policies(&["{severity: sev9, condition: {kind: anomaly, op: gt, threshold: 0, lookbackWindow: 1M}}"])
        .unwrap_err();
    assert_paths(
        &errors,
        "(SLO s)",
        &[
            "spec.alertPolicies[0].spec.conditions[0].spec.severity",
            "spec.alertPolicies[0].spec.conditions[0].spec.condition.kind",
            "spec.alertPolicies[0].spec.conditions[0].spec.condition.threshold",
            "spec.alertPolicies[0].spec.conditions[0].spec.condition.lookbackWindow",
        ],
    );

    // sloop's own check: a rule's long window longer than the SLO window (30d).
    let errors = policies(&["{severity: page, condition: {op: gt, threshold: 2, lookbackWindow: 5w}}"]).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0]
            .message
            .contains("processors.slo.objectives[0].alerting.page[0].long"),
        "{}",
        errors[0]
    );
}

#[test]
fn references_to_missing_documents_name_what_exists() {
    let text = format!(
        "{}\n---\napiVersion: openslo/v1\nkind: SLO\nmetadata: {{name: t}}\nspec:\n  indicatorRef: nope\n  \
         budgetingMethod: Occurrences\n  objectives: [{{target: 0.9}}]\n  alertPolicies: [{{alertPolicyRef: gone}}]\n",
        slo_with(SLOOP_RATIO, "")
    );
    let errors = errors_of(&text);
    assert_paths(
        &errors,
        "(SLO t)",
        &["spec.indicatorRef", "spec.alertPolicies[0].alertPolicyRef"],
    );
    assert!(errors[0].message.contains("no SLI named \"nope\""), "{}", errors[0]);
    assert!(errors[1].message.contains("(known: none)"), "{}", errors[1]);
}

#[test]
fn documents_that_are_not_openslo_v1_are_refused() {
    let errors = errors_of(
        "apiVersion: openslo/v2alpha\nkind: SLO\nmetadata: {name: x}\n---\n- a list\n---\n\
                            apiVersion: openslo/v1\nkind: Widget\nmetadata: {name: w}\n",
    );
    assert_paths(&errors, "test.yaml, document", &["apiVersion", "", "kind"]);
    assert!(errors[2].place.contains("document 3 (Widget w)"), "{}", errors[2]);
    let errors = errors_of("key: [unclosed");
    assert!(errors[0].message.starts_with("not valid YAML"), "{}", errors[0]);
    let errors = errors_of(&format!(
        "{}\n---\n{}",
        slo_with(SLOOP_RATIO, ""),
        slo_with(SLOOP_RATIO, "")
    ));
    assert_paths(&errors, "document 2 (SLO s)", &["metadata.name"]);
    assert!(errors[0].message.contains("a second SLO named \"s\""), "{}", errors[0]);
}

#[test]
fn conditions_that_do_not_compile_are_reported_at_their_document() {
    let errors = errors_of(&slo_with(
        "      ratioMetric:
        good: {metricSource: {type: sloop, spec: {condition: 'duration <'}}}
        total: {metricSource: {type: sloop}}",
        "",
    ));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].place.contains("(SLO s), spec.indicator"), "{}", errors[0]);
    assert!(
        errors[0].message.contains("processors.sli.slis[0].good"),
        "{}",
        errors[0]
    );
}

#[test]
fn several_objectives_of_one_slo_are_named_after_their_display_names() {
    let (imported, _) = import_one(&slo_with(SLOOP_RATIO, "").replace(
        "    - target: 0.99\n",
        "    - {displayName: 'Fast & Good!', target: 0.99}\n    - {targetPercent: 95}\n",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<(&str, f64)> = imported
        .objectives
        .iter()
        .map(|o| (o.name.as_str(), o.target))
        .collect();
    assert_eq!(names, [("s-fast-good", 0.99), ("s-2", 0.95)]);
}

#[test]
fn helpers() {
    assert_eq!(weekday(2024, 1, 1), 0);
    assert_eq!(weekday(1970, 1, 1), 3);
    assert_eq!(weekday(2026, 12, 3), 3);
    assert_eq!(shorthand("30d"), Ok((30, 'd')));
    assert!(shorthand("0d").is_err() && shorthand("1.5h").is_err() && shorthand("5mm").is_err());
    assert_eq!(default_short(HOUR), 5 * MINUTE);
    assert_eq!(default_short(5 * MINUTE), MINUTE);
    assert!(check_start("2024-02-01 00:00", Window::Month).is_ok());
    assert!(check_start("2024-02-01 00:30:00", Window::Month).is_err());
    assert_eq!(slug("  Checkout: p99 latency "), "checkout-p99-latency");
    assert_eq!(config_duration(30 * DAY), "30d");
    assert_eq!(config_duration(90 * MINUTE), "90m");
}

/// The fenced block of `language` that follows `after` in `text`.
fn fenced<'a>(text: &'a str, after: &str, language: &str) -> &'a str {
    let start = text.find(after).unwrap_or_else(|| panic!("{after:?} not found"));
    let open = format!("```{language}\n");
    let body = start
        + text[start..]
            .find(&open)
            .unwrap_or_else(|| panic!("no {open:?} after {after:?}"))
        + open.len();
    let end = body
        + text[body..]
            .find("```")
            .unwrap_or_else(|| panic!("unclosed block after {after:?}"));
    &text[body..end]
}

#[test]
fn the_readme_example_imports_into_the_config_it_shows() {
    let readme = include_str!("../../README.md");
    let section = "### OpenSLO (`sloop slo import`, `sloop slo export`)";
    let openslo = fenced(readme, section, "text");
    let shown = fenced(readme, section, "yaml");
    let (imported, _) = import_one(openslo).unwrap_or_else(|e| panic!("{e}"));
    let shown = Config::from_yaml(&format!("{BASE}{shown}")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        objectives_of(&config_of(&imported)).unwrap(),
        objectives_of(&shown).unwrap()
    );
}
