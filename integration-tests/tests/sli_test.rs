//! `sloop test` (issue 17): the real binary passes the SLIs of `examples/sli-tests/`
//! against their test file, catches an SLI whose `good` condition was changed (a
//! latency threshold 300ms → 3000ms, a status bound < 500 → <= 503) with exit 1 and
//! a diff naming the case and the SLI, and refuses a malformed test file, or one
//! naming an SLI the config does not define, with exit 2 and the place.
//!
//! `sloop test` opens no port: it only reads the config and the test file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use integration_tests::{run_bounded, sloop_bin, unique_temp_dir, workspace_root};

const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> PathBuf {
    let path = workspace_root().join("examples/sli-tests").join(name);
    assert!(path.is_file(), "{} does not exist", path.display());
    path
}

/// Runs `sloop test --config <config> <tests>`: its exit code and output.
async fn sloop_test(config: &Path, tests: &Path) -> (i32, String, String) {
    let mut command = Command::new(sloop_bin());
    command.arg("test").arg("--config").arg(config).arg(tests);
    let (status, Output { stdout, stderr, .. }) = run_bounded(&mut command, EXIT_TIMEOUT).await;
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let status =
        status.unwrap_or_else(|| panic!("sloop test did not exit within {EXIT_TIMEOUT:?}\n{stdout}\n{stderr}"));
    let code = status
        .code()
        .unwrap_or_else(|| panic!("sloop test ended by a signal: {status}\n{stdout}\n{stderr}"));
    (code, stdout, stderr)
}

/// `N checks in M cases: P passed, F failed`, the last line of stdout, as numbers.
fn summary(stdout: &str) -> [usize; 4] {
    let last = stdout.lines().last().unwrap_or_default();
    let numbers: Vec<usize> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    numbers
        .try_into()
        .unwrap_or_else(|_| panic!("the summary line is not 'N checks in M cases: P passed, F failed': {last:?}"))
}

/// The fixture's cases and expectations, counted from its text: each case starts
/// with `- name:` and names its SLIs in a flow mapping `expect: {sli: verdict, ...}`.
fn fixture_counts(text: &str) -> (usize, usize) {
    let cases = text.lines().filter(|l| l.trim_start().starts_with("- name:")).count();
    let checks = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("expect: {"))
        .map(|l| l.matches(':').count())
        .sum();
    (cases, checks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_passes_with_the_right_slis() {
    let tests = fixture("homepage.tests.yaml");
    let (code, stdout, stderr) = sloop_test(&fixture("sloop.yaml"), &tests).await;
    assert_eq!(code, 0, "sloop test failed on the fixture\n{stdout}\n{stderr}");
    let (cases, checks) = fixture_counts(&std::fs::read_to_string(&tests).unwrap());
    assert!(
        cases >= 10 && checks >= cases,
        "the fixture looks empty: {cases} cases, {checks} checks"
    );
    assert_eq!(summary(&stdout), [checks, cases, checks, 0], "{stdout}");
    // Every SLI of the config is checked by some case.
    assert!(!stderr.contains("no case checks"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_good_condition_is_caught_with_a_diff() {
    let config = std::fs::read_to_string(fixture("sloop.yaml")).unwrap();
    let tests = fixture("homepage.tests.yaml");
    let (cases, checks) = fixture_counts(&std::fs::read_to_string(&tests).unwrap());
    let dir = unique_temp_dir();
    // (the change to `good`, the case it breaks, the SLI, the expected verdict, the one given)
    let breaks = [
        (
            ("duration < 300ms", "duration < 3000ms"),
            "slow homepage render is bad",
            "homepage",
            "bad",
            "good",
        ),
        (
            ("status_code\"] < 500", "status_code\"] <= 503"),
            "nginx 503 is bad",
            "site",
            "bad",
            "good",
        ),
    ];
    for (i, ((from, to), case, sli, expected, got)) in breaks.into_iter().enumerate() {
        assert_eq!(config.matches(from).count(), 1, "the fixture no longer has {from:?}");
        let broken = dir.join(format!("broken-{i}.yaml"));
        std::fs::write(&broken, config.replace(from, to)).unwrap();
        let (code, stdout, stderr) = sloop_test(&broken, &tests).await;
        assert_eq!(code, 1, "{from} → {to} was not caught\n{stdout}\n{stderr}");
        let headline = format!("case '{case}' ({}:", tests.display());
        let verdicts = format!("): SLI {sli}: expected {expected}, got {got}");
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&headline))
            .unwrap_or_else(|| panic!("no diff for case '{case}'\n{stdout}"));
        assert!(line.ends_with(&verdicts), "{line}");
        // The line number is the case's: its `- name:` line in the file.
        let number: usize = line[headline.len()..line.len() - verdicts.len()].parse().unwrap();
        let text = std::fs::read_to_string(&tests).unwrap();
        assert_eq!(
            text.lines().nth(number - 1).map(str::trim),
            Some(format!("- name: {case}").as_str()),
            "{line}"
        );
        // The next line names the condition that decided, as changed.
        let decided = stdout.lines().skip_while(|l| *l != line).nth(1).unwrap_or_default();
        assert!(
            decided.trim_start().starts_with("decided by processors.sli/")
                && decided.contains(".good, which holds: ")
                && decided.contains(to),
            "{decided}"
        );
        assert_eq!(summary(&stdout), [checks, cases, checks - 1, 1], "{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_test_file_exits_2_with_the_file_and_place() {
    let dir = unique_temp_dir();
    let config = fixture("sloop.yaml");
    let tests = dir.join("typo.tests.yaml");
    std::fs::write(
        &tests,
        "cases:\n  - name: fast homepage\n    span:\n      name: GET /\n      kindd: server\n    expect: {homepage: good}\n",
    )
    .unwrap();
    let (code, stdout, stderr) = sloop_test(&config, &tests).await;
    assert_eq!(
        code, 2,
        "a test file with an unknown key was not refused\n{stdout}\n{stderr}"
    );
    let place = format!("{}:5:7: ", tests.display());
    assert!(stderr.contains(&place) && stderr.contains("kindd"), "{stderr}");

    // An SLI the config does not define: the case and the near miss are named.
    std::fs::write(
        &tests,
        "cases:\n  - name: fast homepage\n    span: {name: GET /, kind: server}\n    expect: {homepgae: good}\n",
    )
    .unwrap();
    let (code, stdout, stderr) = sloop_test(&config, &tests).await;
    assert_eq!(code, 2, "an unknown SLI was not refused\n{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "case 'fast homepage' ({}:2): expect.homepgae",
            tests.display()
        )) && stderr.contains("did you mean homepage?"),
        "{stderr}"
    );

    // A config that is not valid: its own error, exit 2.
    let bad_config = dir.join("bad-config.yaml");
    std::fs::write(
        &bad_config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("good: 'status.code", "god: 'status.code"),
    )
    .unwrap();
    let (code, stdout, stderr) = sloop_test(&bad_config, &fixture("homepage.tests.yaml")).await;
    assert_eq!(code, 2, "an invalid config was not refused\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("processors.sli/web.slis.1.god") && stderr.contains("did you mean good?"),
        "{stderr}"
    );
}
