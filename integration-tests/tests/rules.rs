//! `sloop rules` writes rules that Prometheus accepts and that compute the right
//! budgets across replicas.
//!
//! The real binary generates rules for a config with four 99.9% objectives;
//! `promtool check rules` must accept them. Then `promtool test rules` replays
//! synthetic `slo_events_total` counters from two replicas (different `instance`
//! labels, different traffic and error ratios) and checks the recorded error ratios,
//! burn rates and budget remaining, and which page/ticket alerts fire when, against
//! a model in this file: plain arithmetic over the same counter samples, written
//! without looking at the generated PromQL.
//!
//! The scenarios (1000 events a minute: 600 on replica 0, 400 on replica 1):
//! - `steady`: 0.05% errors throughout (burn 0.5): no alert, half the budget left;
//! - `burst`: 0.05%, then 2% errors for an hour (burn 20): page (and ticket);
//! - `slow-burn`: 0.4% errors (burn 4): ticket, never page;
//! - `sparse`: one event every 10 minutes, all bad: no alert while the windows hold
//!   fewer than `min_events` (10) events, then page.
//!
//! Replica error ratios differ (2.5% and 1.25% during the burst), so averaging ratios
//! instead of summing counts gives wrong answers the test would catch; the `burst`
//! objective also has `group_by`, and its per-group series must not count twice.
//!
//! promtool comes from Debian's `prometheus` package; `scripts/test` installs it. A
//! missing promtool fails this test rather than skipping it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use integration_tests::{sloop_bin, unique_temp_dir};
use serde_json::{json, Value};

const TARGET: f64 = 0.999;
const MIN_EVENTS: f64 = 10.0;
/// Samples, one a minute, from t=0 to t=MINUTES.
const MINUTES: usize = 300;
const REPLICAS: [&str; 2] = ["sloop-gateway-0", "sloop-gateway-1"];

/// The multiwindow rules of the default `alerting` config (SRE Workbook), in
/// minutes: (long, short, burn rate).
const PAGE: [(usize, usize, f64); 2] = [(60, 5, 14.4), (360, 30, 6.0)];
const TICKET: [(usize, usize, f64); 2] = [(1440, 120, 3.0), (4320, 360, 1.0)];

/// Events one replica counted in one minute: (good, bad).
type Traffic = fn(replica: usize, minute: usize) -> (f64, f64);

struct Scenario {
    name: &'static str,
    traffic: Traffic,
}

/// 0.05% errors: 0.4 of 600 on replica 0, 0.1 of 400 on replica 1.
fn steady(replica: usize, _minute: usize) -> (f64, f64) {
    [(599.6, 0.4), (399.9, 0.1)][replica]
}

/// 2% errors in minutes 121..=180 (15 of 600 and 5 of 400), else `steady`.
fn burst(replica: usize, minute: usize) -> (f64, f64) {
    if (121..=180).contains(&minute) {
        [(585.0, 15.0), (395.0, 5.0)][replica]
    } else {
        steady(replica, minute)
    }
}

/// 0.4% errors: 3 of 600 and 1 of 400.
fn slow_burn(replica: usize, _minute: usize) -> (f64, f64) {
    [(597.0, 3.0), (399.0, 1.0)][replica]
}

/// One bad event every 10 minutes, alternating between the replicas.
fn sparse(replica: usize, minute: usize) -> (f64, f64) {
    let mine = minute > 0 && minute.is_multiple_of(10) && (minute / 10) % 2 == replica;
    (0.0, if mine { 1.0 } else { 0.0 })
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "steady",
        traffic: steady,
    },
    Scenario {
        name: "burst",
        traffic: burst,
    },
    Scenario {
        name: "slow-burn",
        traffic: slow_burn,
    },
    Scenario {
        name: "sparse",
        traffic: sparse,
    },
];

/// Cumulative counters per replica, sampled every minute: `[replica][minute]` =
/// (good, bad) counted in minutes 1..=minute.
struct Counters(Vec<Vec<(f64, f64)>>);

impl Counters {
    fn of(traffic: Traffic) -> Self {
        Counters(
            (0..REPLICAS.len())
                .map(|replica| {
                    let mut totals = vec![(0.0, 0.0)];
                    for minute in 1..=MINUTES {
                        let (good, bad) = traffic(replica, minute);
                        let (g, b) = totals[minute - 1];
                        totals.push((g + good, b + bad));
                    }
                    totals
                })
                .collect(),
        )
    }

    /// (all events, bad events) of every replica in the `window` minutes up to
    /// `now`: the difference between the samples at `now` and at `now - window`
    /// (or t=0 when the window reaches back before the first sample).
    fn in_window(&self, now: usize, window: usize) -> (f64, f64) {
        let from = now.saturating_sub(window);
        self.0.iter().fold((0.0, 0.0), |(all, bad), samples| {
            let (g1, b1) = samples[now];
            let (g0, b0) = samples[from];
            (all + (g1 - g0) + (b1 - b0), bad + (b1 - b0))
        })
    }

    /// Bad events over all events in the window; NaN without events.
    fn error_ratio(&self, now: usize, window: usize) -> f64 {
        let (all, bad) = self.in_window(now, window);
        bad / all
    }

    /// The short window of the first multiwindow rule that fires (the alert's
    /// `sloth_window` label), or None.
    fn firing(&self, now: usize, rules: &[(usize, usize, f64)]) -> Option<usize> {
        let budget = 1.0 - TARGET;
        rules
            .iter()
            .find(|(long, short, burn)| {
                self.error_ratio(now, *short) / budget > *burn
                    && self.error_ratio(now, *long) / budget > *burn
                    && self.in_window(now, *long).0 >= MIN_EVENTS
            })
            .map(|(_, short, _)| *short)
    }
}

/// `90` → `1h30m`-style labels as sloop writes them (`5m`, `30m`, `1h`, `6h`).
fn window_label(minutes: usize) -> String {
    if minutes.is_multiple_of(1440) {
        format!("{}d", minutes / 1440)
    } else if minutes.is_multiple_of(60) {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}

fn duration(minutes: usize) -> String {
    format!("{minutes}m")
}

fn sloop_config() -> String {
    let objectives: String = SCENARIOS
        .iter()
        .map(|s| {
            let group_by = if s.name == "burst" {
                ", group_by: [customer.segment]"
            } else {
                ""
            };
            format!(
                "      - {{name: {}, sli: requests, target: {TARGET}{group_by}}}\n",
                s.name
            )
        })
        .collect();
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
processors:
  sli:
    slis:
      - name: requests
        good: 'status.code != STATUS_CODE_ERROR'
  slo:
    objectives:
{objectives}exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [sli, slo]
      exporters: [debug]
"
    )
}

fn promtool(args: &[&str], dir: &Path) -> Output {
    match Command::new("promtool").args(args).current_dir(dir).output() {
        Ok(output) => output,
        Err(error) => panic!(
            "cannot run promtool ({error}); it comes from Debian's `prometheus` package: \
             run scripts/test, or `apt-get install prometheus`"
        ),
    }
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn sloop_rules(dir: &Path, extra: &[&str]) -> Output {
    let mut command = Command::new(sloop_bin());
    command.arg("rules").arg("--config").arg(dir.join("sloop.yaml"));
    command.args(extra).current_dir(dir);
    command.output().expect("running sloop rules")
}

/// The series promtool loads: each replica's good and bad counter, named and
/// labelled as the OTLP → Prometheus translation names them, values listed
/// sample by sample.
fn input_series(name: &str, counters: &Counters) -> Vec<Value> {
    let mut series = Vec::new();
    for (replica, instance) in REPLICAS.iter().enumerate() {
        for (outcome, pick) in [("good", 0), ("bad", 1)] {
            let values: Vec<String> = counters.0[replica]
                .iter()
                .map(|sample| format!("{}", if pick == 0 { sample.0 } else { sample.1 }))
                .collect();
            let labels = format!(
                "job=\"sloop\",instance=\"{instance}\",otel_scope_name=\"sloop/slo\",slo_name=\"{name}\",slo_outcome=\"{outcome}\""
            );
            series.push(json!({"series": format!("slo_events_total{{{labels}}}"), "values": values.join(" ")}));
            if name == "burst" && replica == 0 {
                // A per-group series (group_by: customer.segment) repeating replica 0's
                // counts: summed with the objective's own series it would count twice.
                series.push(json!({
                    "series": format!("slo_events_total{{{labels},customer_segment=\"gold\"}}"),
                    "values": values.join(" "),
                }));
            }
        }
    }
    series
}

/// `{slo_name="...", sloth_...}` as promtool prints a recorded series' labels.
fn labels_of(name: &str, extra: &[(&str, &str)]) -> String {
    let mut labels = BTreeMap::from([
        ("slo_name", name.to_string()),
        ("sloth_id", format!("sloop-{name}")),
        ("sloth_service", "sloop".to_string()),
        ("sloth_slo", name.to_string()),
    ]);
    labels.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// A check that `expr` (one series of objective `name`) is `expected` at `minute`,
/// to six decimals: promtool compares floats exactly, so both sides are rounded.
fn value_check(name: &str, record: &str, window: Option<&str>, minute: usize, expected: f64) -> Value {
    let extra: Vec<(&str, &str)> = window.map(|w| ("sloth_window", w)).into_iter().collect();
    json!({
        "expr": format!("round({record}{{sloth_slo=\"{name}\"}} * 1e6)"),
        "eval_time": duration(minute),
        "exp_samples": [{"labels": labels_of(name, &extra), "value": (expected * 1e6).round()}],
    })
}

/// The annotations of each alert, from the generated rule file, with the Sloth-style
/// `{{$labels.x}}` templates filled in for objective `name`.
fn annotations(rules: &Value, alert: &str, name: &str) -> Value {
    let group = format!("sloth-slo-alerts-sloop-{name}");
    let rule = rules["groups"]
        .as_array()
        .and_then(|groups| groups.iter().find(|g| g["name"] == group.as_str()))
        .and_then(|g| g["rules"].as_array())
        .and_then(|rules| rules.iter().find(|r| r["alert"] == alert))
        .unwrap_or_else(|| panic!("no alert {alert} in group {group}"));
    let mut out = serde_json::Map::new();
    for (key, text) in rule["annotations"].as_object().expect("annotations") {
        let text = text
            .as_str()
            .expect("annotation text")
            .replace("{{$labels.sloth_service}}", "sloop")
            .replace("{{$labels.sloth_slo}}", name);
        assert!(
            !text.contains("{{"),
            "annotation {key} has a template this test does not fill: {text}"
        );
        out.insert(key.clone(), Value::String(text));
    }
    Value::Object(out)
}

#[test]
fn generated_rules_pass_promtool_and_compute_budgets_across_replicas() {
    let dir = unique_temp_dir();
    std::fs::write(dir.join("sloop.yaml"), sloop_config()).expect("writing the config");

    let generated = sloop_rules(&dir, &["--output", "rules.yaml"]);
    assert!(
        generated.status.success(),
        "sloop rules failed: {}",
        describe(&generated)
    );
    let checked = promtool(&["check", "rules", "rules.yaml"], &dir);
    assert!(checked.status.success(), "promtool check rules: {}", describe(&checked));
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("SUCCESS"),
        "{}",
        describe(&checked)
    );

    let text = std::fs::read_to_string(dir.join("rules.yaml")).expect("reading rules.yaml");
    let rules: Value = serde_saphyr::from_str(&text).expect("rules.yaml is YAML");

    let counters: Vec<(&str, Counters)> = SCENARIOS.iter().map(|s| (s.name, Counters::of(s.traffic))).collect();
    let model = |name: &str| &counters.iter().find(|(n, _)| *n == name).expect("scenario").1;

    // The scenarios really are the cases named in the module doc (the model agrees
    // with the story before promtool is asked anything).
    assert_eq!(model("burst").firing(175, &PAGE), Some(5), "the 2% burst pages");
    assert!(model("slow-burn").firing(240, &TICKET).is_some(), "0.4% opens a ticket");
    assert!(
        (0..=MINUTES).all(|t| model("slow-burn").firing(t, &PAGE).is_none()),
        "0.4% never pages"
    );
    assert!((0..=MINUTES)
        .all(|t| { model("steady").firing(t, &PAGE).is_none() && model("steady").firing(t, &TICKET).is_none() }));
    assert!(model("sparse").firing(60, &PAGE).is_none(), "too few events to page");
    let mean_of_replica_ratios = (15.0 / 600.0 + 5.0 / 400.0) / 2.0;
    assert!((model("burst").error_ratio(175, 5) - mean_of_replica_ratios).abs() > 1e-3);

    // Recorded values, where the model has events to compute them from.
    let mut expr_tests = Vec::new();
    for (name, c) in &counters {
        for (minute, window) in [(170, 5), (170, 30), (180, 60), (240, 120), (MINUTES, 360)] {
            let ratio = c.error_ratio(minute, window);
            if ratio.is_finite() {
                let label = window_label(window);
                let record = format!("slo:sli_error:ratio_rate{label}");
                expr_tests.push(value_check(name, &record, Some(&label), minute, ratio));
            }
        }
        let period_ratio = c.error_ratio(MINUTES, 30 * 1440);
        let period_burn = period_ratio / (1.0 - TARGET);
        expr_tests.push(value_check(
            name,
            "slo:sli_error:ratio_rate30d",
            Some("30d"),
            MINUTES,
            period_ratio,
        ));
        expr_tests.push(value_check(
            name,
            "slo:period_burn_rate:ratio",
            Some("30d"),
            MINUTES,
            period_burn,
        ));
        expr_tests.push(value_check(
            name,
            "slo:period_error_budget_remaining:ratio",
            Some("30d"),
            MINUTES,
            1.0 - period_burn,
        ));
        let current = c.error_ratio(170, 5) / (1.0 - TARGET);
        if current.is_finite() {
            expr_tests.push(value_check(
                name,
                "slo:current_burn_rate:ratio",
                Some("5m"),
                170,
                current,
            ));
        }
        expr_tests.push(value_check(name, "slo:objective:ratio", None, 60, TARGET));
        expr_tests.push(value_check(name, "slo:error_budget:ratio", None, 60, 1.0 - TARGET));
        expr_tests.push(value_check(name, "slo:time_period:days", None, 60, 30.0));
    }
    // A few numbers written out, so a reader can check the model too.
    let remaining = |name: &str| 1.0 - model(name).error_ratio(MINUTES, 30 * 1440) / (1.0 - TARGET);
    assert!((remaining("steady") - 0.5).abs() < 1e-9);
    // burst: (120 + 120) minutes × 0.5 bad + 60 × 20 bad = 1320 of 300,000 → burn 4.4.
    assert!((remaining("burst") - (1.0 - 4.4)).abs() < 1e-9);
    assert!((remaining("slow-burn") - (1.0 - 4.0)).abs() < 1e-9);

    // Alerts at times where the model's answer is the same two minutes either side,
    // so they do not hinge on the exact edge of a range selector.
    let mut alert_tests = Vec::new();
    let mut fired = BTreeMap::new();
    for minute in [30, 60, 110, 130, 150, 175, 190, 230, 280, MINUTES - 2] {
        for (alert, severity, multiwindow) in [
            ("SloopSLOPageBurnRate", "page", &PAGE[..]),
            ("SloopSLOTicketBurnRate", "ticket", &TICKET[..]),
        ] {
            let mut expected = Vec::new();
            for (name, c) in &counters {
                let state = c.firing(minute, multiwindow);
                let stable = (minute - 2..=minute + 2).all(|t| c.firing(t, multiwindow) == state);
                assert!(
                    stable,
                    "{name} {severity} at {minute}m is too close to a change to test"
                );
                if let Some(short) = state {
                    *fired.entry((*name, severity)).or_insert(0) += 1;
                    let window = window_label(short);
                    expected.push(json!({
                        "exp_labels": {
                            "severity": severity,
                            "sloth_severity": severity,
                            "slo_name": name,
                            "sloth_id": format!("sloop-{name}"),
                            "sloth_service": "sloop",
                            "sloth_slo": name,
                            "sloth_window": window,
                        },
                        "exp_annotations": annotations(&rules, alert, name),
                    }));
                }
            }
            alert_tests.push(json!({"eval_time": duration(minute), "alertname": alert, "exp_alerts": expected}));
        }
    }
    // Every case of the story is among the checked points.
    for case in [
        ("burst", "page"),
        ("burst", "ticket"),
        ("slow-burn", "ticket"),
        ("sparse", "page"),
    ] {
        assert!(
            fired.contains_key(&case),
            "no checked time where {case:?} fires: {fired:?}"
        );
    }
    assert!(!fired.contains_key(&("slow-burn", "page")) && !fired.keys().any(|(n, _)| *n == "steady"));

    let input: Vec<Value> = counters.iter().flat_map(|(name, c)| input_series(name, c)).collect();
    // Each objective's ratios first, then the meta rules and alerts computed from
    // them, as the file lists them; unlisted groups run in random order, and a meta
    // rule would then sometimes read the ratio of the step before.
    let group_order: Vec<String> = SCENARIOS
        .iter()
        .flat_map(|s| {
            ["sli-recordings", "meta-recordings", "alerts"].map(|g| format!("sloth-slo-{g}-sloop-{}", s.name))
        })
        .collect();
    let test_file = json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "group_eval_order": group_order,
        "tests": [{
            "interval": "1m",
            "input_series": input,
            "promql_expr_test": expr_tests,
            "alert_rule_test": alert_tests,
        }],
    });
    // JSON is YAML: promtool reads it as is.
    let test_path = dir.join("rules_test.yaml");
    std::fs::write(&test_path, serde_json::to_string_pretty(&test_file).expect("json")).expect("writing the test");
    let tested = promtool(&["test", "rules", "rules_test.yaml"], &dir);
    assert!(
        tested.status.success(),
        "promtool test rules ({}): {}",
        test_path.display(),
        describe(&tested)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn helm_values_wrap_the_same_groups() {
    let dir = unique_temp_dir();
    std::fs::write(dir.join("sloop.yaml"), sloop_config()).expect("writing the config");
    let plain = sloop_rules(&dir, &[]);
    let helm = sloop_rules(&dir, &["--helm-values"]);
    assert!(plain.status.success(), "{}", describe(&plain));
    assert!(helm.status.success(), "{}", describe(&helm));
    let plain: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&plain.stdout)).expect("YAML");
    let helm: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&helm.stdout)).expect("YAML");
    assert_eq!(helm["prometheusRule"]["enabled"], true);
    assert_eq!(helm["prometheusRule"]["groups"], plain["groups"]);
    assert_eq!(plain["groups"].as_array().map(Vec::len), Some(3 * SCENARIOS.len()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn configs_without_slos_or_with_errors_exit_1_with_a_clear_message() {
    let dir = unique_temp_dir();
    std::fs::write(
        dir.join("sloop.yaml"),
        "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  debug:\n\
         service:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug]}\n",
    )
    .expect("writing the config");
    let out = sloop_rules(&dir, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("defines no SLO"),
        "{}",
        describe(&out)
    );

    // An invalid config: the same report as `sloop validate`.
    std::fs::write(
        dir.join("sloop.yaml"),
        sloop_config().replace("target: 0.999", "target: 1.5"),
    )
    .expect("writing the config");
    let out = sloop_rules(&dir, &[]);
    let validate = Command::new(sloop_bin())
        .args(["validate", "--config"])
        .arg(dir.join("sloop.yaml"))
        .current_dir(&dir)
        .output()
        .expect("running sloop validate");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        out.stdout.is_empty(),
        "no rules for an invalid config: {}",
        describe(&out)
    );
    assert_eq!(out.stderr, validate.stderr, "rules and validate report the same errors");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("target"),
        "{}",
        describe(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
