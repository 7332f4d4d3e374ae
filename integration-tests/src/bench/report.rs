//! Summaries of a harness run: median and range over rounds, ratios to the floor
//! taken within each round, rendered as Markdown for BENCHMARKS.md.

use std::fmt::Write as _;

use super::{Measurement, Results};

/// Nearest-rank percentile of microsecond samples, in milliseconds (0 when empty).
pub fn percentile_ms(micros: &mut [u32], q: f64) -> f64 {
    if micros.is_empty() {
        return 0.0;
    }
    micros.sort_unstable();
    let i = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len()) - 1;
    f64::from(micros[i]) / 1000.0
}

/// Median, minimum and maximum of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median (mean of the middle two for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values`; `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    fn cell(self, decimals: usize) -> String {
        format!("{:.d$} ({:.d$}–{:.d$})", self.median, self.min, self.max, d = decimals)
    }
}

fn cell(summary: Option<Summary>, decimals: usize) -> String {
    summary.map_or_else(|| "—".into(), |s| s.cell(decimals))
}

/// The scenarios measured, in the order of the first round.
fn scenario_names(results: &Results) -> Vec<&'static str> {
    let order = [
        "floor",
        "passthrough",
        "persistent",
        "persistent_fsync",
        "full",
        "tail_sampling",
    ];
    order
        .into_iter()
        .filter(|name| results.rounds.iter().any(|r| r.contains_key(name)))
        .collect()
}

/// `f` of scenario `name` in every round that measured it.
fn each(results: &Results, name: &str, f: impl Fn(&Measurement) -> f64) -> Option<Summary> {
    Summary::of(results.rounds.iter().filter_map(|r| r.get(name)).map(f))
}

/// `f(scenario) / f(floor)` in every round that measured both.
fn ratio(results: &Results, name: &str, f: impl Fn(&Measurement) -> f64) -> Option<Summary> {
    Summary::of(
        results
            .rounds
            .iter()
            .filter_map(|r| Some(f(r.get(name)?) / f(r.get("floor")?))),
    )
}

/// `f(scenario) / f(passthrough)` in every round that measured both.
fn ratio_to_passthrough(results: &Results, name: &str, f: impl Fn(&Measurement) -> f64) -> Option<Summary> {
    Summary::of(
        results
            .rounds
            .iter()
            .filter_map(|r| Some(f(r.get(name)?) / f(r.get("passthrough")?))),
    )
}

/// `f(scenario) - f(passthrough)` in every round that measured both.
fn difference_to_passthrough(results: &Results, name: &str, f: impl Fn(&Measurement) -> f64) -> Option<Summary> {
    Summary::of(
        results
            .rounds
            .iter()
            .filter_map(|r| Some(f(r.get(name)?) - f(r.get("passthrough")?))),
    )
}

/// Issue 12's performance targets for a persistent queue, against the in-memory
/// queue of the same round: saturation ≥ 0.7×, CPU per span ≤ 1.3×, added p99 at
/// half of passthrough's saturation ≤ 10 ms.
const PERSISTENT_TARGETS: [(&str, f64, bool); 3] = [
    ("saturation ≥ 0.7× passthrough", 0.7, true),
    ("CPU per span ≤ 1.3× passthrough", 1.3, false),
    ("added p99 ≤ 10 ms at ½ passthrough saturation", 10.0, false),
];

/// A persistent scenario's CPU per span and p99 are compared with passthrough's only
/// when it accepted at least this share of the spans passthrough did (fixed rate)
/// or of the reference rate offered.
const CARRIED: f64 = 0.95;

/// The persistent-queue scenarios against passthrough, and issue 12's targets.
fn persistent_section(out: &mut String, results: &Results, names: &[&str], fixed_rate: u64) {
    let persistent: Vec<&str> = names.iter().copied().filter(|n| n.starts_with("persistent")).collect();
    if persistent.is_empty() {
        return;
    }
    let p99 = |m: &Measurement| m.p99_ms_at_reference_rate.unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "\nPersistent queues against passthrough (the in-memory queue), taken within each round. \
         The reference rate is half of the round's passthrough saturation: {}.\n\n\
         | scenario | saturation ÷ passthrough | CPU per span ÷ passthrough | p99 ms at the reference rate | \
         spans/s accepted at the reference rate | added p99 ms | p99 ÷ passthrough | \
         file bytes written per span at {fixed_rate}/s | peak queue files MiB at {fixed_rate}/s |\n\
         |---|---|---|---|---|---|---|---|---|",
        cell(
            each(results, "passthrough", |m| m
                .reference_rate
                .map_or(f64::NAN, |r| r as f64)),
            0
        ),
    );
    for name in std::iter::once("passthrough").chain(persistent.iter().copied()) {
        let base = name == "passthrough";
        let vs = |f: fn(&Measurement) -> f64| {
            if base {
                "1".to_string()
            } else {
                cell(ratio_to_passthrough(results, name, f), 2)
            }
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
            vs(|m| m.saturation_spans_per_s),
            vs(|m| m.cpu_us_per_span),
            cell(each(results, name, p99), 1),
            cell(
                each(results, name, |m| m.reference_rate_accepted.unwrap_or(f64::NAN)),
                0
            ),
            if base {
                "0".to_string()
            } else {
                cell(difference_to_passthrough(results, name, p99), 1)
            },
            if base {
                "1".to_string()
            } else {
                cell(ratio_to_passthrough(results, name, p99), 2)
            },
            cell(each(results, name, |m| m.written_bytes_per_span.unwrap_or(f64::NAN)), 0),
            cell(each(results, name, |m| m.peak_queue_files_mib.unwrap_or(f64::NAN)), 1),
        );
    }
    let _ = write!(
        out,
        "\nIssue 12's targets (median of the rounds; met when the median is):\n\n| target |"
    );
    for name in &persistent {
        let _ = write!(out, " {name} |");
    }
    let _ = write!(out, "\n|---|{}\n", "---|".repeat(persistent.len()));
    for (i, (target, bound, at_least)) in PERSISTENT_TARGETS.iter().enumerate() {
        let _ = write!(out, "| {target} |");
        for name in &persistent {
            let figure = match i {
                0 => ratio_to_passthrough(results, name, |m| m.saturation_spans_per_s),
                1 => ratio_to_passthrough(results, name, |m| m.cpu_us_per_span),
                _ => difference_to_passthrough(results, name, p99),
            };
            // CPU per span and p99 compare like with like only when the persistent
            // queue carried the load passthrough did: the generator is closed-loop,
            // so a collector that answers slowly is offered less.
            let carried = match i {
                0 => None,
                1 => ratio_to_passthrough(results, name, |m| m.fixed_rate_spans as f64),
                _ => each(results, name, |m| {
                    m.reference_rate_accepted.unwrap_or(f64::NAN) / m.reference_rate.map_or(f64::NAN, |r| r as f64)
                }),
            }
            .filter(|c| c.min < CARRIED);
            let verdict = match (figure, carried) {
                (None, _) => "—".to_string(),
                (Some(s), Some(c)) => format!(
                    "{} **not at equal load**: it carried {:.0}% (min {:.0}%) of the spans",
                    s.cell(2),
                    c.median * 100.0,
                    c.min * 100.0
                ),
                (Some(s), None) => {
                    let met = if *at_least {
                        s.median >= *bound
                    } else {
                        s.median <= *bound
                    };
                    format!("{} {}", s.cell(2), if met { "yes" } else { "**no**" })
                }
            };
            let _ = write!(out, " {verdict} |");
        }
        let _ = writeln!(out);
    }
}

/// The Markdown tables: absolute figures, then ratios, then the persistent queues
/// against passthrough, then the overload check.
pub fn markdown(results: &Results, fixed_rate: u64) -> String {
    let names = scenario_names(results);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Median (min–max) of {} round(s).\n\n\
         | scenario | saturation, spans/s | lossless | CPU µs/span at {fixed_rate}/s | peak RSS MiB at {fixed_rate}/s | \
         p99 ms at {fixed_rate}/s | p99 ms at ½ saturation |\n|---|---|---|---|---|---|---|",
        results.rounds.len()
    );
    for name in &names {
        let rounds: Vec<&Measurement> = results.rounds.iter().filter_map(|r| r.get(name)).collect();
        let lossless = rounds.iter().filter(|m| m.saturation_lossless).count();
        let _ = writeln!(
            out,
            "| {name} | {} | {lossless}/{} | {} | {} | {} | {} |",
            cell(each(results, name, |m| m.saturation_spans_per_s), 0),
            rounds.len(),
            cell(each(results, name, |m| m.cpu_us_per_span), 2),
            cell(each(results, name, |m| m.peak_rss_mib), 1),
            cell(each(results, name, |m| m.p99_ms_at_fixed_rate), 1),
            cell(each(results, name, |m| m.p99_ms_at_half_saturation), 1),
        );
    }
    let _ = writeln!(
        out,
        "\nRatios to the floor, taken within each round:\n\n\
         | scenario | CPU per span ÷ floor | saturation ÷ floor | saturation, 2 threads ÷ 1 | cores busy at saturation, 2 threads / 1 |\n|---|---|---|---|---|"
    );
    for name in &names {
        let threads = each(results, name, |m| {
            m.saturation_one_thread
                .map_or(f64::NAN, |one| m.saturation_spans_per_s / one)
        });
        let cores = format!(
            "{} / {}",
            cell(each(results, name, |m| m.saturation_cores), 2),
            cell(
                each(results, name, |m| m.saturation_one_thread_cores.unwrap_or(f64::NAN)),
                2
            ),
        );
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {cores} |",
            cell(ratio(results, name, |m| m.cpu_us_per_span), 2),
            cell(ratio(results, name, |m| m.saturation_spans_per_s), 2),
            cell(threads, 2),
        );
    }
    persistent_section(&mut out, results, &names, fixed_rate);
    let losses: Vec<String> = results
        .rounds
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            r.iter()
                .filter(|(_, m)| !m.saturation_lossless)
                .map(move |(name, m)| format!("- round {}, {name}: {}", i + 1, m.saturation_losses))
        })
        .collect();
    if !losses.is_empty() {
        let _ = writeln!(out, "\nLosses at saturation:\n\n{}", losses.join("\n"));
    }
    if let Some(o) = &results.overload {
        let _ = writeln!(
            out,
            "\nOverload (blackholed backend, memory_limiter limit_mib {}): offered {:.0} spans/s; \
             max RSS {:.1} MiB; requests OK {}; refused/failed: {:?}\n\nRSS every 500 ms, MiB: {:?}",
            o.limit_mib, o.offered_spans_per_s, o.max_rss_mib, o.requests_ok, o.errors, o.rss_mib_timeline
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn percentile_uses_nearest_rank() {
        let mut v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile_ms(&mut v, 0.99), 99.0);
        assert_eq!(percentile_ms(&mut v, 0.5), 50.0);
        assert_eq!(percentile_ms(&mut [], 0.99), 0.0);
    }

    #[test]
    fn summary_takes_median_and_range() {
        let s = Summary::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Summary::of([1.0, 2.0, f64::NAN, 4.0, 3.0]).unwrap().median, 2.5);
        assert!(Summary::of([]).is_none());
    }

    #[test]
    fn ratios_are_taken_within_each_round() {
        let round = |floor_cpu: f64, a_cpu: f64| {
            let mut r = BTreeMap::new();
            r.insert(
                "floor",
                Measurement {
                    cpu_us_per_span: floor_cpu,
                    ..Default::default()
                },
            );
            r.insert(
                "passthrough",
                Measurement {
                    cpu_us_per_span: a_cpu,
                    ..Default::default()
                },
            );
            r
        };
        // Machine speed drifts 2x between rounds; the ratio does not.
        let results = Results {
            rounds: vec![round(1.0, 1.2), round(2.0, 2.4)],
            overload: None,
        };
        let r = ratio(&results, "passthrough", |m| m.cpu_us_per_span).unwrap();
        assert!((r.min - 1.2).abs() < 1e-9 && (r.max - 1.2).abs() < 1e-9, "{r:?}");
        let md = markdown(&results, 20_000);
        assert!(md.contains("| passthrough | 1.20 (1.20–1.20) |"), "{md}");
        assert!(!md.contains("Persistent queues"), "{md}");
    }

    #[test]
    fn persistent_scenarios_are_compared_with_passthrough_of_the_same_round() {
        let m = |saturation: f64, cpu: f64, p99: f64| Measurement {
            saturation_spans_per_s: saturation,
            cpu_us_per_span: cpu,
            fixed_rate_spans: 2000,
            p99_ms_at_reference_rate: Some(p99),
            reference_rate: Some(500),
            reference_rate_accepted: Some(500.0),
            ..Default::default()
        };
        let round = |scale: f64| {
            let mut r = BTreeMap::new();
            r.insert("passthrough", m(1000.0 * scale, 10.0 * scale, 100.0));
            r.insert("persistent", m(800.0 * scale, 12.0 * scale, 104.0));
            r.insert("persistent_fsync", m(500.0 * scale, 14.0 * scale, 125.0));
            r
        };
        let results = Results {
            rounds: vec![round(1.0), round(2.0)],
            overload: None,
        };
        let md = markdown(&results, 20_000);
        assert!(
            md.contains("| persistent | 0.80 (0.80–0.80) | 1.20 (1.20–1.20) | 104.0 (104.0–104.0) |"),
            "{md}"
        );
        assert!(
            md.contains("| saturation ≥ 0.7× passthrough | 0.80 (0.80–0.80) yes | 0.50 (0.50–0.50) **no** |"),
            "{md}"
        );
        assert!(
            md.contains("| CPU per span ≤ 1.3× passthrough | 1.20 (1.20–1.20) yes | 1.40 (1.40–1.40) **no** |"),
            "{md}"
        );
        assert!(
            md.contains("at ½ passthrough saturation | 4.00 (4.00–4.00) yes | 25.00 (25.00–25.00) **no** |"),
            "{md}"
        );

        // A queue that could not carry the load is not judged on CPU or latency.
        let mut slow = results.clone();
        for round in &mut slow.rounds {
            let m = round.get_mut("persistent").unwrap();
            m.fixed_rate_spans = 400;
            m.reference_rate_accepted = Some(100.0);
        }
        let md = markdown(&slow, 20_000);
        assert!(
            md.contains("| CPU per span ≤ 1.3× passthrough | 1.20 (1.20–1.20) **not at equal load**: it carried 20% (min 20%) of the spans |"),
            "{md}"
        );
        assert!(
            md.contains("4.00 (4.00–4.00) **not at equal load**: it carried 20% (min 20%)"),
            "{md}"
        );
    }
}
