//! CI's smoke run of the benchmark harness (`./scripts/bench` runs it for real):
//! one short round of every scenario against the debug binary, checking that each
//! phase produced figures and the JSON report holds them. No timing is asserted.
//! `persistent_fsync` is left out: it is `persistent` with one setting changed, and
//! each scenario costs CI about ten seconds. The peer, Rotel, runs in a second
//! short run with gzip, against sloop's passthrough with gzip.

use std::path::PathBuf;
use std::process::Command;

/// The `rotel-agent` that `scripts/bench-rotel` installs (`SLOOP_BENCH_ROTEL`, or
/// found in target/bench-venv).
fn rotel_agent() -> PathBuf {
    if let Some(path) = std::env::var_os("SLOOP_BENCH_ROTEL") {
        return PathBuf::from(path);
    }
    let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-venv/lib");
    std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| python.path().join("site-packages/rotel/rotel-agent"))
        .find(|bin| bin.is_file())
        .unwrap_or_else(|| {
            panic!(
                "rotel-agent is not installed under {}; run scripts/bench-rotel (scripts/test does)",
                lib.display()
            )
        })
}

#[test]
fn the_benchmark_harness_runs_rotel_and_sloop_with_gzip() {
    let dir = std::env::temp_dir().join(format!("sloop-bench-smoke-rotel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("results.json");
    let output = Command::new(env!("CARGO_BIN_EXE_sloop-bench"))
        .env("SLOOP_BIN", integration_tests::sloop_bin())
        .arg("--rotel")
        .arg(rotel_agent())
        .args([
            "--runs",
            "1",
            "--duration",
            "1s",
            "--rate",
            "2000",
            "--overload",
            "0s",
            "--no-threads",
            "--scenarios",
            "rotel,passthrough",
            "--compression",
            "gzip",
            "--json",
        ])
        .arg(&json)
        .output()
        .expect("running sloop-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "sloop-bench failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let round = &results["rounds"][0];
    for key in ["rotel/gzip", "passthrough/gzip"] {
        let m = &round[key];
        assert_eq!(m["fixed_rate_spans"], 2000, "{key}: {m}\n{stderr}");
        assert!(m["saturation_spans_per_s"].as_f64().unwrap() > 0.0, "{key}: {m}");
        // Every accepted span reached the sink, and it came gzip-compressed.
        assert_eq!(m["saturation_lossless"], true, "{key}: {m}");
        assert!(m["sink_encodings"]["gzip"].as_u64().unwrap() > 0, "{key}: {m}");
        assert!(m["sink_encodings"]["identity"].is_null(), "{key}: {m}");
    }
    assert!(stdout.contains("| passthrough/gzip | "), "{stdout}");
    assert!(stdout.contains("Against Rotel"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_benchmark_harness_runs_every_scenario() {
    let dir = std::env::temp_dir().join(format!("sloop-bench-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("results.json");
    let output = Command::new(env!("CARGO_BIN_EXE_sloop-bench"))
        .env("SLOOP_BIN", integration_tests::sloop_bin())
        .args([
            "--runs",
            "1",
            "--duration",
            "1s",
            "--rate",
            "2000",
            "--overload",
            "2s",
            "--scenarios",
            "floor,passthrough,persistent,full,tail-sampling",
            "--compression",
            "none",
            "--json",
        ])
        .arg(&json)
        .output()
        .expect("running sloop-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "sloop-bench failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let round = &results["rounds"][0];
    for scenario in ["floor", "passthrough", "persistent", "full", "tail_sampling"] {
        let m = &round[scenario];
        // 2000 spans/s for 1 s, in requests of 100 spans: all of them accepted.
        assert_eq!(m["fixed_rate_spans"], 2000, "{scenario}: {m}\n{stderr}");
        assert!(m["cpu_us_per_span"].as_f64().unwrap() > 0.0, "{scenario}: {m}");
        assert!(m["peak_rss_mib"].as_f64().unwrap() > 1.0, "{scenario}: {m}");
        assert!(m["saturation_spans_per_s"].as_f64().unwrap() > 0.0, "{scenario}: {m}");
        assert!(m["p99_ms_at_fixed_rate"].as_f64().unwrap() > 0.0, "{scenario}: {m}");
    }
    assert!(round["passthrough"]["saturation_one_thread"].as_f64().unwrap() > 0.0);

    // The persistent queue wrote its batches to files, and its latency was taken at
    // passthrough's reference rate; the in-memory passthrough writes no files.
    let persistent = &round["persistent"];
    assert!(
        persistent["written_bytes_per_span"].as_f64().unwrap() > 0.0,
        "{persistent}"
    );
    assert!(
        persistent["peak_queue_files_mib"].as_f64().unwrap() > 0.0,
        "{persistent}"
    );
    assert_eq!(persistent["reference_rate"], round["passthrough"]["reference_rate"]);
    assert!(
        persistent["p99_ms_at_reference_rate"].as_f64().unwrap() > 0.0,
        "{persistent}"
    );
    assert!(round["passthrough"]["peak_queue_files_mib"].is_null());
    assert!(stdout.contains("| persistent | "), "{stdout}");
    assert!(stdout.contains("| saturation ≥ 0.7× passthrough |"), "{stdout}");
    assert!(results["overload"]["max_rss_mib"].as_f64().unwrap() > 1.0, "{results}");
    assert!(stdout.contains("| passthrough |"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_benchmark_harness_measures_nginx_lines_through_filelog_sli_and_slo() {
    let dir = std::env::temp_dir().join(format!("sloop-bench-smoke-filelog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("results.json");
    let output = Command::new(env!("CARGO_BIN_EXE_sloop-bench"))
        .env("SLOOP_BIN", integration_tests::sloop_bin())
        .args(["--runs", "1", "--json"])
        .arg(&json)
        .args(["filelog", "--lines", "20000"])
        .output()
        .expect("running sloop-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The harness fails the run unless the SLO's totals equal the log's own count.
    assert!(
        output.status.success(),
        "sloop-bench failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(results[0]["lines"], 20000, "{results}");
    assert!(results[0]["lines_per_second"].as_f64().unwrap() > 0.0, "{results}");
    assert!(stdout.contains("| lines/s |"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
