use std::collections::BTreeSet;

use super::*;
use crate::config::Config;

/// A whole config: an OTLP receiver, `processors` (YAML under `processors:`), a debug
/// exporter and `pipelines` (YAML under `service.pipelines:`).
fn whole_config(processors: &str, pipelines: &str) -> Config {
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n\
         processors:\n{processors}\n\
         exporters:\n  debug:\n\
         service:\n  pipelines:\n{pipelines}\n"
    );
    match Config::from_yaml(&yaml) {
        Ok(config) => config,
        Err(errors) => panic!("test config is invalid: {errors}\n{yaml}"),
    }
}

const SLIS: &str = "  sli:\n    slis: [{name: homepage, good: 'true'}, {name: checkout, good: 'true'}]";

/// A config with one `slo` processor whose objectives are `objectives` (YAML list
/// items, indented for the `objectives:` key).
fn config_with(objectives: &str) -> Config {
    whole_config(
        &format!("{SLIS}\n  slo:\n    objectives:\n{objectives}"),
        "    traces: {receivers: [otlp], processors: [sli, slo], exporters: [debug]}",
    )
}

fn generate_default(objectives: &str) -> RuleFile {
    generate_for_config(&config_with(objectives), &RulesOptions::default()).expect("rules")
}

fn group<'a>(rules: &'a RuleFile, name: &str) -> &'a RuleGroup {
    rules
        .groups
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no group {name}; groups: {:?}", names_of_groups(rules)))
}

fn names_of_groups(rules: &RuleFile) -> Vec<&str> {
    rules.groups.iter().map(|g| g.name.as_str()).collect()
}

fn names(group: &RuleGroup) -> Vec<&str> {
    group.rules.iter().map(Rule::name).collect()
}

fn rule<'a>(group: &'a RuleGroup, name: &str) -> &'a Rule {
    group
        .rules
        .iter()
        .find(|r| r.name() == name)
        .unwrap_or_else(|| panic!("no rule {name} in {}", group.name))
}

fn label_keys(rule: &Rule) -> BTreeSet<&str> {
    rule.labels().keys().map(String::as_str).collect()
}

const DEFAULT_OBJECTIVE: &str = "      - {name: homepage-availability, sli: homepage, target: 0.999}";

#[test]
fn a_30d_objective_gets_sloths_groups_windows_and_meta_rules() {
    let rules = generate_default(DEFAULT_OBJECTIVE);
    assert_eq!(
        names_of_groups(&rules),
        [
            "sloth-slo-sli-recordings-sloop-homepage-availability",
            "sloth-slo-meta-recordings-sloop-homepage-availability",
            "sloth-slo-alerts-sloop-homepage-availability",
        ]
    );
    let sli = group(&rules, "sloth-slo-sli-recordings-sloop-homepage-availability");
    assert_eq!(
        names(sli),
        [
            "slo:sli_error:ratio_rate5m",
            "slo:sli_error:ratio_rate30m",
            "slo:sli_error:ratio_rate1h",
            "slo:sli_error:ratio_rate2h",
            "slo:sli_error:ratio_rate6h",
            "slo:sli_error:ratio_rate1d",
            "slo:sli_error:ratio_rate3d",
            "slo:sli_error:ratio_rate30d",
        ]
    );
    let meta = group(&rules, "sloth-slo-meta-recordings-sloop-homepage-availability");
    assert_eq!(
        names(meta),
        [
            "slo:objective:ratio",
            "slo:error_budget:ratio",
            "slo:time_period:days",
            "slo:current_burn_rate:ratio",
            "slo:period_burn_rate:ratio",
            "slo:period_error_budget_remaining:ratio",
            "sloth_slo_info",
        ]
    );
    assert_eq!(rule(meta, "slo:objective:ratio").expr(), "vector(0.999)");
    assert_eq!(rule(meta, "slo:error_budget:ratio").expr(), "vector(0.001)");
    assert_eq!(rule(meta, "slo:time_period:days").expr(), "vector(30)");
    assert!(rule(meta, "slo:current_burn_rate:ratio")
        .expr()
        .starts_with("slo:sli_error:ratio_rate5m{"));
    assert!(rule(meta, "slo:period_burn_rate:ratio")
        .expr()
        .starts_with("slo:sli_error:ratio_rate30d{"));
    let alerts = group(&rules, "sloth-slo-alerts-sloop-homepage-availability");
    assert_eq!(names(alerts), [PAGE_ALERT, TICKET_ALERT]);
}

#[test]
fn ratios_sum_the_events_counter_across_replicas() {
    let rules = generate_default(DEFAULT_OBJECTIVE);
    let sli = group(&rules, "sloth-slo-sli-recordings-sloop-homepage-availability");
    assert_eq!(
        rule(sli, "slo:sli_error:ratio_rate5m").expr(),
        "(sum(rate(slo_events_total{slo_name=\"homepage-availability\",slo_outcome=\"bad\"}[5m])))\n\
         /\n\
         (sum(rate(slo_events_total{slo_name=\"homepage-availability\",slo_outcome=~\"good|bad\"}[5m])))\n"
    );
    // The SLO window is request-weighted: events in the window, not a mean of ratios.
    let period = rule(sli, "slo:sli_error:ratio_rate30d").expr();
    assert!(
        period.contains("sum(increase(slo_events_total{slo_name=\"homepage-availability\",slo_outcome=\"bad\"}[30d]))")
    );
    assert!(!period.contains("sum_over_time"));
}

#[test]
fn label_sets_match_sloth() {
    let rules = generate_default(DEFAULT_OBJECTIVE);
    let base = ["slo_name", "sloth_id", "sloth_service", "sloth_slo"];
    let sli = group(&rules, "sloth-slo-sli-recordings-sloop-homepage-availability");
    for r in &sli.rules {
        let mut expected: BTreeSet<&str> = base.into_iter().collect();
        expected.insert("sloth_window");
        assert_eq!(label_keys(r), expected, "{}", r.name());
        let window = r.name().trim_start_matches("slo:sli_error:ratio_rate");
        assert_eq!(r.labels()["sloth_window"], window);
        assert_eq!(r.labels()["sloth_id"], "sloop-homepage-availability");
        assert_eq!(r.labels()["sloth_service"], "sloop");
        assert_eq!(r.labels()["sloth_slo"], "homepage-availability");
    }
    let meta = group(&rules, "sloth-slo-meta-recordings-sloop-homepage-availability");
    for r in meta.rules.iter().filter(|r| r.name() != "sloth_slo_info") {
        assert_eq!(label_keys(r), base.into_iter().collect(), "{}", r.name());
    }
    let info = rule(meta, "sloth_slo_info");
    for key in ["sloth_mode", "sloth_spec", "sloth_version", "sloth_objective"] {
        assert!(info.labels().contains_key(key), "sloth_slo_info lacks {key}");
    }
    let alerts = group(&rules, "sloth-slo-alerts-sloop-homepage-availability");
    for (r, severity) in alerts.rules.iter().zip(["page", "ticket"]) {
        assert_eq!(r.labels()["severity"], severity);
        assert_eq!(r.labels()["sloth_severity"], severity);
        let Rule::Alerting { annotations, .. } = r else {
            panic!("{} is not an alert", r.name())
        };
        assert!(annotations["summary"].contains("homepage-availability"));
    }
}

#[test]
fn default_alerts_are_the_workbook_multiwindow_rules_with_min_events() {
    let rules = generate_default(DEFAULT_OBJECTIVE);
    let alerts = group(&rules, "sloth-slo-alerts-sloop-homepage-availability");
    let page = rule(alerts, PAGE_ALERT).expr();
    for needle in [
        "(slo:sli_error:ratio_rate5m{sloth_id=\"sloop-homepage-availability\", sloth_service=\"sloop\", sloth_slo=\"homepage-availability\"} > (14.4 * 0.001))",
        "ratio_rate1h{",
        "> (6 * 0.001))",
        "ratio_rate30m{",
        "ratio_rate6h{",
        "[1h])) >= 10)",
        "[6h])) >= 10)",
        "or ignoring (sloth_window)",
    ] {
        assert!(page.contains(needle), "page alert lacks {needle:?}:\n{page}");
    }
    let ticket = rule(alerts, TICKET_ALERT).expr();
    for needle in [
        "ratio_rate2h{",
        "ratio_rate1d{",
        "> (3 * 0.001))",
        "ratio_rate3d{",
        "> (1 * 0.001))",
        "[3d])) >= 10)",
    ] {
        assert!(ticket.contains(needle), "ticket alert lacks {needle:?}:\n{ticket}");
    }
}

#[test]
fn alert_windows_thresholds_and_min_events_come_from_the_config() {
    let rules = generate_default(
        "      - name: checkout
        sli: checkout
        target: 0.99
        window: 7d
        alerting:
          page: [{long: 2h, short: 10m, burn_rate: 10}]
          ticket: []
          min_events: 0",
    );
    let sli = group(&rules, "sloth-slo-sli-recordings-sloop-checkout");
    // 10m comes from the page rule; 7d is the SLO window; Sloth's 5m..3d stay.
    assert_eq!(
        names(sli),
        [
            "slo:sli_error:ratio_rate5m",
            "slo:sli_error:ratio_rate10m",
            "slo:sli_error:ratio_rate30m",
            "slo:sli_error:ratio_rate1h",
            "slo:sli_error:ratio_rate2h",
            "slo:sli_error:ratio_rate6h",
            "slo:sli_error:ratio_rate1d",
            "slo:sli_error:ratio_rate3d",
            "slo:sli_error:ratio_rate7d",
        ]
    );
    let meta = group(&rules, "sloth-slo-meta-recordings-sloop-checkout");
    assert_eq!(rule(meta, "slo:time_period:days").expr(), "vector(7)");
    assert_eq!(rule(meta, "slo:error_budget:ratio").expr(), "vector(0.01)");
    let alerts = group(&rules, "sloth-slo-alerts-sloop-checkout");
    assert_eq!(
        names(alerts),
        [PAGE_ALERT],
        "an empty ticket list means no ticket alert"
    );
    let page = alerts.rules[0].expr();
    assert!(page.contains("ratio_rate10m{"), "{page}");
    assert!(page.contains("ratio_rate2h{"), "{page}");
    assert!(page.contains("> (10 * 0.01))"), "{page}");
    assert!(
        !page.contains("and on ()"),
        "min_events 0 adds no event-count clause:\n{page}"
    );
    assert!(!page.contains("or ignoring"), "one rule, one clause:\n{page}");
}

#[test]
fn short_slo_windows_drop_longer_standard_windows() {
    let rules = generate_default(
        "      - name: checkout
        sli: checkout
        target: 0.99
        window: 2d
        alerting:
          ticket: [{long: 1d, short: 2h, burn_rate: 3}]",
    );
    let sli = group(&rules, "sloth-slo-sli-recordings-sloop-checkout");
    assert_eq!(
        names(sli).last().copied(),
        Some("slo:sli_error:ratio_rate2d"),
        "{:?}",
        names(sli)
    );
    assert!(!names(sli).contains(&"slo:sli_error:ratio_rate3d"));
}

#[test]
fn calendar_windows_use_a_rolling_window_and_say_so() {
    let rules = generate_default("      - {name: checkout, sli: checkout, target: 0.995, calendar: week}");
    let sli = group(&rules, "sloth-slo-sli-recordings-sloop-checkout");
    assert_eq!(names(sli).last().copied(), Some("slo:sli_error:ratio_rate7d"));
    let meta = group(&rules, "sloth-slo-meta-recordings-sloop-checkout");
    assert!(rule(meta, "sloth_slo_info").labels()["sloop_window"].contains("calendar week"));
    let month = generate_default("      - {name: checkout, sli: checkout, target: 0.995, calendar: month}");
    let meta = group(&month, "sloth-slo-meta-recordings-sloop-checkout");
    assert_eq!(rule(meta, "slo:time_period:days").expr(), "vector(30)");
}

#[test]
fn group_by_series_are_left_out_of_the_sums() {
    let rules =
        generate_default("      - {name: checkout, sli: checkout, target: 0.99, group_by: [customer.segment, 9lives]}");
    let sli = group(&rules, "sloth-slo-sli-recordings-sloop-checkout");
    let expr = rule(sli, "slo:sli_error:ratio_rate5m").expr();
    assert!(
        expr.contains(
            "slo_events_total{slo_name=\"checkout\",customer_segment=\"\",key_9lives=\"\",slo_outcome=\"bad\"}"
        ),
        "{expr}"
    );
}

#[test]
fn options_name_the_service_and_the_counter() {
    let config = config_with(DEFAULT_OBJECTIVE);
    let options = RulesOptions {
        service: "shop".into(),
        events_metric: "slo_events".into(),
    };
    let rules = generate_for_config(&config, &options).expect("rules");
    let sli = group(&rules, "sloth-slo-sli-recordings-shop-homepage-availability");
    let r = rule(sli, "slo:sli_error:ratio_rate5m");
    assert_eq!(r.labels()["sloth_service"], "shop");
    assert_eq!(r.labels()["sloth_id"], "shop-homepage-availability");
    assert!(r.expr().contains("rate(slo_events{"), "{}", r.expr());
}

#[test]
fn every_slo_processor_contributes_its_objectives() {
    let processors = [
        SLIS,
        "  slo/traces:",
        "    objectives: [{name: homepage, sli: homepage, target: 0.999}]",
        "  slo/logs:",
        "    objectives: [{name: checkout, sli: checkout, target: 0.99}]",
    ];
    let pipelines = [
        "    traces: {receivers: [otlp], processors: [sli, slo/traces], exporters: [debug]}",
        "    logs: {receivers: [otlp], processors: [sli, slo/logs], exporters: [debug]}",
    ];
    let config = whole_config(&processors.join("\n"), &pipelines.join("\n"));
    let names: BTreeSet<&str> = objectives(&config).iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["homepage", "checkout"]));
    assert_eq!(
        generate_for_config(&config, &RulesOptions::default())
            .expect("rules")
            .groups
            .len(),
        6
    );
}

#[test]
fn an_slo_processor_in_no_pipeline_gets_no_rules() {
    let processors = [
        SLIS,
        "  slo:",
        "    objectives: [{name: homepage, sli: homepage, target: 0.999}]",
        "  slo/unused:",
        "    objectives: [{name: checkout, sli: checkout, target: 0.99}]",
    ];
    let config = whole_config(
        &processors.join("\n"),
        "    traces: {receivers: [otlp], processors: [sli, slo], exporters: [debug]}",
    );
    let names: Vec<&str> = objectives(&config).iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["homepage"]);
}

#[test]
fn a_config_without_slo_is_an_error() {
    let config = whole_config(
        "  batch:",
        "    traces: {receivers: [otlp], processors: [batch], exporters: [debug]}",
    );
    let error = generate_for_config(&config, &RulesOptions::default()).unwrap_err();
    assert!(matches!(error, RulesError::NoSlo));
    assert!(error.to_string().contains("no SLO"), "{error}");
}

#[test]
fn yaml_output_reads_back_as_the_same_rules() {
    let rules = generate_default(DEFAULT_OBJECTIVE);
    let yaml = to_yaml(&rules, "test.yaml").expect("yaml");
    assert!(yaml.starts_with("# Generated by `sloop rules`"));
    let back: serde_json::Value = serde_saphyr::from_str(&yaml).expect("yaml parses");
    let groups = back["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 3);
    assert_eq!(
        groups[0]["rules"][0]["expr"].as_str(),
        Some(rules.groups[0].rules[0].expr())
    );
    assert_eq!(groups[2]["rules"][0]["labels"]["severity"], "page");

    let helm = to_helm_values_yaml(&rules, "test.yaml").expect("yaml");
    let back: serde_json::Value = serde_saphyr::from_str(&helm).expect("yaml parses");
    assert_eq!(back["prometheusRule"]["enabled"], true);
    assert_eq!(back["prometheusRule"]["groups"].as_array().map(Vec::len), Some(3));
}

#[test]
fn names_and_strings_are_translated_and_escaped() {
    assert_eq!(label_name("customer.segment"), "customer_segment");
    assert_eq!(label_name("http..route/x"), "http_route_x");
    assert_eq!(label_name("2fa"), "key_2fa");
    assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    assert_eq!(number(1.0 - 0.999), "0.001");
    assert_eq!(number(14.4), "14.4");
    assert_eq!(number(30.0), "30");
}
