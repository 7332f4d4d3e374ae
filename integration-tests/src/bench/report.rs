//! Summaries of a harness run: median and range over rounds, ratios to the floor
//! taken within each round, rendered as Markdown for BENCHMARKS.md.

use std::fmt::Write as _;

use super::scenarios::{Compression, Scenario};
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

/// The keys measured ([`Scenario::key`]), scenario by scenario, compressions in
/// order within each.
fn scenario_names(results: &Results) -> Vec<String> {
    Scenario::ALL
        .into_iter()
        .flat_map(|scenario| Compression::ALL.into_iter().map(move |c| scenario.key(c)))
        .filter(|key| results.rounds.iter().any(|r| r.contains_key(key)))
        .collect()
}

/// `f(a) / f(b)` in every round that measured both keys.
fn ratio_of(results: &Results, a: &str, b: &str, f: impl Fn(&Measurement) -> f64) -> Option<Summary> {
    Summary::of(results.rounds.iter().filter_map(|r| Some(f(r.get(a)?) / f(r.get(b)?))))
}

/// The sloop scenarios against Rotel with the same compression, and what
/// compression and the full pipeline cost, all taken within each round.
fn peer_section(out: &mut String, results: &Results, names: &[String], fixed_rate: u64) {
    let has = |key: &str| names.iter().any(|n| n == key);
    let sloop_keys = || {
        Scenario::ALL
            .into_iter()
            .filter(|s| s.is_sloop())
            .flat_map(|s| Compression::ALL.into_iter().map(move |c| (s, c)))
            .filter(|(s, c)| has(&s.key(*c)))
    };
    let rotel: Vec<Compression> = Compression::ALL
        .into_iter()
        .filter(|c| has(&Scenario::Rotel.key(*c)))
        .collect();
    if !rotel.is_empty() {
        let _ = writeln!(
            out,
            "\nAgainst Rotel (`rotel-agent`) with the same exporter compression, taken within each round:\n\n\
             | scenario | CPU per span ÷ rotel at {fixed_rate}/s | CPU per span ÷ rotel at saturation | \
             saturation ÷ rotel | peak RSS ÷ rotel at {fixed_rate}/s | peak RSS ÷ rotel at saturation |\n\
             |---|---|---|---|---|---|"
        );
        for (scenario, compression) in sloop_keys().filter(|(_, c)| rotel.contains(c)) {
            let key = scenario.key(compression);
            let peer = Scenario::Rotel.key(compression);
            let _ = writeln!(
                out,
                "| {key} | {} | {} | {} | {} | {} |",
                cell(ratio_of(results, &key, &peer, |m| m.cpu_us_per_span), 2),
                cell(ratio_of(results, &key, &peer, |m| m.cpu_us_per_span_at_saturation), 2),
                cell(ratio_of(results, &key, &peer, |m| m.saturation_spans_per_s), 2),
                cell(ratio_of(results, &key, &peer, |m| m.peak_rss_mib), 2),
                cell(ratio_of(results, &key, &peer, |m| m.peak_rss_mib_at_saturation), 2),
            );
        }
    }
    // What compressing costs, per scenario: CPU per span against the same
    // scenario uncompressed.
    let compressed: Vec<(Scenario, Compression)> = Scenario::ALL
        .into_iter()
        .flat_map(|s| [Compression::Gzip, Compression::Zstd].into_iter().map(move |c| (s, c)))
        .filter(|(s, c)| has(&s.key(*c)) && has(&s.key(Compression::None)))
        .collect();
    if !compressed.is_empty() {
        let _ = writeln!(
            out,
            "\nCompression against none, same scenario, taken within each round:\n\n\
             | scenario | CPU per span ÷ none at {fixed_rate}/s | CPU per span ÷ none at saturation | \
             saturation ÷ none |\n|---|---|---|---|"
        );
        for (scenario, compression) in compressed {
            let key = scenario.key(compression);
            let none = scenario.key(Compression::None);
            let _ = writeln!(
                out,
                "| {key} | {} | {} | {} |",
                cell(ratio_of(results, &key, &none, |m| m.cpu_us_per_span), 2),
                cell(ratio_of(results, &key, &none, |m| m.cpu_us_per_span_at_saturation), 2),
                cell(ratio_of(results, &key, &none, |m| m.saturation_spans_per_s), 2),
            );
        }
    }
    let full: Vec<Compression> = Compression::ALL
        .into_iter()
        .filter(|c| has(&Scenario::Full.key(*c)) && has(&Scenario::Passthrough.key(*c)))
        .collect();
    if !full.is_empty() {
        let _ = writeln!(
            out,
            "\nThe full pipeline against passthrough, same compression, taken within each round:\n\n\
             | compression | CPU per span ÷ passthrough at {fixed_rate}/s | CPU per span ÷ passthrough at saturation |\n\
             |---|---|---|"
        );
        for compression in full {
            let key = Scenario::Full.key(compression);
            let base = Scenario::Passthrough.key(compression);
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                compression.name(),
                cell(ratio_of(results, &key, &base, |m| m.cpu_us_per_span), 2),
                cell(ratio_of(results, &key, &base, |m| m.cpu_us_per_span_at_saturation), 2),
            );
        }
    }
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
fn persistent_section(out: &mut String, results: &Results, names: &[String], fixed_rate: u64) {
    // Uncompressed only: the reference rate is the uncompressed passthrough's.
    let persistent: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.starts_with("persistent") && !n.contains('/'))
        .collect();
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
    if let Some(pinned) = &results.pinned {
        let _ = writeln!(out, "Pinned: {pinned}.\n");
    }
    let _ = writeln!(
        out,
        "Median (min–max) of {} round(s). `name` alone is exporter compression none; \
         `name/gzip`, `name/zstd` the others.\n\n\
         | scenario | saturation, spans/s | lossless | CPU µs/span at {fixed_rate}/s | peak RSS MiB at {fixed_rate}/s | \
         p99 ms at {fixed_rate}/s | p99 ms at ½ saturation | CPU µs/span at saturation | peak RSS MiB at saturation | \
         grpc-encoding at the sink | collector CPUs |\n|---|---|---|---|---|---|---|---|---|---|---|",
        results.rounds.len()
    );
    for name in &names {
        let rounds: Vec<&Measurement> = results.rounds.iter().filter_map(|r| r.get(name)).collect();
        let lossless = rounds.iter().filter(|m| m.saturation_lossless).count();
        let mut encodings: Vec<&str> = rounds
            .iter()
            .flat_map(|m| m.sink_encodings.keys().map(String::as_str))
            .collect();
        encodings.sort_unstable();
        encodings.dedup();
        let mut cpus: Vec<&str> = rounds.iter().map(|m| m.collector_cpus.as_str()).collect();
        cpus.sort_unstable();
        cpus.dedup();
        let _ = writeln!(
            out,
            "| {name} | {} | {lossless}/{} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(each(results, name, |m| m.saturation_spans_per_s), 0),
            rounds.len(),
            cell(each(results, name, |m| m.cpu_us_per_span), 2),
            cell(each(results, name, |m| m.peak_rss_mib), 1),
            cell(each(results, name, |m| m.p99_ms_at_fixed_rate), 1),
            cell(each(results, name, |m| m.p99_ms_at_half_saturation), 1),
            cell(each(results, name, |m| m.cpu_us_per_span_at_saturation), 2),
            cell(each(results, name, |m| m.peak_rss_mib_at_saturation), 1),
            encodings.join(", "),
            cpus.join(" / "),
        );
    }
    let _ = writeln!(
        out,
        "\nRatios to the floor, taken within each round:\n\n\
         | scenario | CPU per span ÷ floor | saturation ÷ floor | saturation, 2 threads ÷ 1 | cores busy at saturation, 2 threads / 1 |\n|---|---|---|---|---|"
    );
    for name in &names {
        // Without --pin the main phases ran two worker threads and the extra one
        // one; with it, the other way round (one thread on one core, then two on both).
        let threads = each(results, name, |m| {
            match (m.saturation_one_thread, m.saturation_two_threads) {
                (Some(one), _) => m.saturation_spans_per_s / one,
                (None, Some(two)) => two / m.saturation_spans_per_s,
                (None, None) => f64::NAN,
            }
        });
        let two_cores = each(results, name, |m| match m.saturation_two_threads_cores {
            Some(two) => two,
            None => m.saturation_cores,
        });
        let one_cores = each(results, name, |m| match m.saturation_one_thread_cores {
            Some(one) => one,
            None if m.saturation_two_threads_cores.is_some() => m.saturation_cores,
            None => f64::NAN,
        });
        let cores = format!("{} / {}", cell(two_cores, 2), cell(one_cores, 2));
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {cores} |",
            cell(ratio(results, name, |m| m.cpu_us_per_span), 2),
            cell(ratio(results, name, |m| m.saturation_spans_per_s), 2),
            cell(threads, 2),
        );
    }
    peer_section(&mut out, results, &names, fixed_rate);
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
                "floor".to_string(),
                Measurement {
                    cpu_us_per_span: floor_cpu,
                    ..Default::default()
                },
            );
            r.insert(
                "passthrough".to_string(),
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
            pinned: None,
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
            r.insert("passthrough".to_string(), m(1000.0 * scale, 10.0 * scale, 100.0));
            r.insert("persistent".to_string(), m(800.0 * scale, 12.0 * scale, 104.0));
            r.insert("persistent_fsync".to_string(), m(500.0 * scale, 14.0 * scale, 125.0));
            r
        };
        let results = Results {
            rounds: vec![round(1.0), round(2.0)],
            overload: None,
            pinned: None,
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
