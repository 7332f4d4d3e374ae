//! `sloop test`: unit tests for SLIs. A test file lists sample events (spans and log
//! records) and the verdict each SLI must give them; `sloop test` loads the config
//! (as `sloop validate` does: several `--config` files, `${env:VAR}` expansion), finds
//! its `sli` processors, classifies every sample with the SLIs' compiled conditions
//! ([`CompiledSli::classify_span`] / [`CompiledSli::classify_log`], what the running
//! processor calls) and prints a diff for each verdict that differs, with the
//! condition that decided it:
//!
//! ```text
//! case 'slow homepage render is bad' (homepage.tests.yaml:13): SLI homepage: expected bad, got good
//!     decided by processors.sli/web.slis[0].good, which holds: attributes["http.response.status_code"] == 200 and duration < 3000ms
//! 14 checks in 14 cases: 13 passed, 1 failed
//! ```
//!
//! It exits 0 when every verdict is as expected, 1 when any differs, and 2 when the
//! test file or the config cannot be used (the message gives the file, the line and
//! what is wrong) or a case names an SLI the config does not define, or one that two
//! processors define (choose one with `--processor sli/name`).
//!
//! An SLI change is then reviewed like code: the test file says what the SLI is
//! meant to count, and CI runs `sloop test` on every change to either.
//!
//! ## The test file
//!
//! `cases:` is a list; each case has a `name` (unique in the file), one event
//! (`span:` or `log:`) and `expect:`, a mapping of SLI names to `good`, `bad` or
//! `none` (not eligible: `when` does not hold or an `exclude` does). Only the SLIs a
//! case names are checked, so a case stays about one thing; a note lists the SLIs
//! that no case checks. Unknown keys are errors.
//!
//! | `span:` key | default | |
//! |---|---|---|
//! | `name` | `""` | |
//! | `kind` | `unspecified` | `internal`, `server`, `client`, `producer`, `consumer` (or `SPAN_KIND_SERVER`) |
//! | `duration` | `0s` | `120ms`, `1.5s`: the span starts at 2026-01-01T00:00:00Z and ends this much later |
//! | `status` | `unset` | `ok`, `error` (or `STATUS_CODE_ERROR`) |
//! | `status_message` | `""` | |
//! | `attributes` | none | a mapping; values keep their YAML type: `200` is an int, `'200'` a string, `0.5` a double, `true` a bool, lists and mappings nest |
//! | `resource` | none | the resource's attributes, as `attributes` |
//! | `scope` | none | the instrumentation scope: `name`, `version`, `attributes` |
//!
//! | `log:` key | default | |
//! |---|---|---|
//! | `body` | none | any value, as an attribute's |
//! | `severity_number` | `0` | 0–24 or a name: `info`, `warn`, `error2` (or `SEVERITY_NUMBER_ERROR`) |
//! | `severity_text` | `""` | |
//! | `event_name` | `""` | |
//! | `duration` | none | what conditions read as `duration`: sets the attribute `http.server.request.duration` (seconds, a double), as the filelog receiver's access-log formats do; give it here or as that attribute, not both |
//! | `attributes`, `resource`, `scope` | none | as for spans |
//!
//! Trace and span ids are empty; the record's `time` is 2026-01-01T00:00:00Z.
//!
//! The config and test file of `examples/sli-tests/`, which the integration tests run:
//!
#![doc = concat!("```yaml\n", include_str!("../../examples/sli-tests/homepage.tests.yaml"), "```")]
//!
//! ```text
//! sloop test --config examples/sli-tests/sloop.yaml examples/sli-tests/homepage.tests.yaml
//! ```

mod file;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

pub use file::{Sample, TestCase, TestFile, TestFileError, Verdict, SAMPLE_TIME_UNIX_NANO};

use crate::config::Config;
use crate::confmap::did_you_mean;
use crate::ottl::{Condition, LogView, SpanView};
use crate::processors::sli::{CompiledSli, CompiledSlis, SliOutcome};

/// The flags of `sloop test` (the config comes from the global `--config`).
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// Test files: cases of sample events and the verdicts they must get.
    #[arg(required = true, value_name = "TEST_FILE")]
    pub files: Vec<PathBuf>,
    /// Test only the SLIs of this sli processor (`sli` or `sli/name`).
    #[arg(long, value_name = "ID")]
    pub processor: Option<String>,
    /// Also print the checks that passed.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// Runs `sloop test`: prints the diff and summary to stdout, problems to stderr.
/// Exit code 0 when every verdict is as expected, 1 when any differs, 2 when the
/// config or a test file cannot be used.
pub fn run_command(config_paths: &[PathBuf], args: &TestArgs) -> ExitCode {
    // The same loading and checks, and the same messages, as `sloop validate`.
    let config = match Config::from_files(config_paths) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    let catalog = match SliCatalog::from_config(&config, args.processor.as_deref()) {
        Ok(catalog) => catalog,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let mut files = Vec::with_capacity(args.files.len());
    let mut unreadable = false;
    for path in &args.files {
        match TestFile::read(path) {
            Ok(file) => files.push(file),
            Err(error) => {
                eprintln!("error: {error}");
                unreadable = true;
            }
        }
    }
    if unreadable {
        return ExitCode::from(2);
    }
    let report = match run(&files, &catalog) {
        Ok(report) => report,
        Err(errors) => {
            for error in errors {
                eprintln!("error: {error}");
            }
            return ExitCode::from(2);
        }
    };
    print!("{}", report.render(args.verbose));
    let unchecked = report.unchecked(&catalog);
    if !unchecked.is_empty() {
        eprintln!("note: no case checks the SLI(s) {}", unchecked.join(", "));
    }
    if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One SLI as a processor of the config defines it.
#[derive(Debug, Clone, Copy)]
pub struct DefinedSli<'a> {
    /// The sli processor's id (`sli/web`).
    pub processor: &'a crate::component::ComponentId,
    /// Its position in the processor's `slis`.
    pub index: usize,
    /// Compiled for spans, or why its conditions cannot classify spans.
    pub spans: Result<&'a CompiledSli, &'a str>,
    /// Compiled for log records, or why not.
    pub logs: Result<&'a CompiledSli, &'a str>,
}

impl DefinedSli<'_> {
    /// Where the config defines it: `processors.sli/web.slis[0]`.
    pub fn place(&self) -> String {
        format!("processors.{}.slis[{}]", self.processor, self.index)
    }
}

/// The SLIs of a config's `sli` processors, by name.
#[derive(Debug)]
pub struct SliCatalog<'a> {
    by_name: BTreeMap<&'a str, Vec<DefinedSli<'a>>>,
}

impl<'a> SliCatalog<'a> {
    /// Every SLI of every `sli` processor in `config`, or only those of the
    /// processor with id `only`. Errors when there is none to test.
    pub fn from_config(config: &'a Config, only: Option<&str>) -> Result<Self, String> {
        let processors: Vec<(&crate::component::ComponentId, &CompiledSlis)> = config
            .processors
            .iter()
            .filter_map(|(id, processor)| {
                let slis = (processor.as_ref() as &dyn std::any::Any).downcast_ref::<CompiledSlis>()?;
                Some((id, slis))
            })
            .collect();
        if processors.is_empty() {
            return Err("the config defines no sli processor: there is no SLI to test".into());
        }
        let chosen: Vec<_> = match only {
            None => processors,
            Some(wanted) => {
                let ids: Vec<String> = processors.iter().map(|(id, _)| id.to_string()).collect();
                let Some(found) = processors.into_iter().find(|(id, _)| id.to_string() == wanted) else {
                    let hint = match did_you_mean(wanted, ids.iter().map(String::as_str)) {
                        Some(best) => format!(", did you mean {best}?"),
                        None => format!(" (the sli processors are: {})", ids.join(", ")),
                    };
                    return Err(format!("--processor {wanted}: no sli processor has that id{hint}"));
                };
                vec![found]
            }
        };
        let mut by_name: BTreeMap<&str, Vec<DefinedSli<'a>>> = BTreeMap::new();
        for (id, slis) in chosen {
            for (index, name) in slis.names.iter().enumerate() {
                let pick = |compiled: &'a Result<Vec<CompiledSli>, String>| match compiled {
                    Ok(all) => all.get(index).ok_or("not compiled"),
                    Err(why) => Err(why.as_str()),
                };
                by_name.entry(name.as_str()).or_default().push(DefinedSli {
                    processor: id,
                    index,
                    spans: pick(&slis.spans),
                    logs: pick(&slis.logs),
                });
            }
        }
        Ok(SliCatalog { by_name })
    }

    /// The SLI names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().copied()
    }

    /// The one definition of `name`; `Err` says why there is none to use.
    pub fn find(&self, name: &str) -> Result<&DefinedSli<'a>, String> {
        match self.by_name.get(name).map(Vec::as_slice) {
            Some([one]) => Ok(one),
            Some(several) => {
                let places: Vec<String> = several.iter().map(DefinedSli::place).collect();
                Err(format!(
                    "SLI {name} is defined more than once: {}; test one processor at a time with --processor {}",
                    places.join(" and "),
                    several.first().map(|d| d.processor.to_string()).unwrap_or_default()
                ))
            }
            None => {
                let hint = match did_you_mean(name, self.names()) {
                    Some(best) => format!(", did you mean {best}?"),
                    None => format!(" (defined: {})", self.names().collect::<Vec<_>>().join(", ")),
                };
                Err(format!("no sli processor defines the SLI {name}{hint}"))
            }
        }
    }
}

/// The outcome of one expectation: one SLI on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The test file's name as given.
    pub file: String,
    /// The case's name.
    pub case: String,
    /// The line of the case's name.
    pub line: u64,
    /// The SLI's name.
    pub sli: String,
    /// The verdict the case expects.
    pub expected: Verdict,
    /// The verdict the SLI gave.
    pub got: Verdict,
    /// Which condition decided, and its text:
    /// `processors.sli/web.slis[0].good, which holds: duration < 300ms`.
    pub decided_by: String,
}

impl Check {
    /// Whether the SLI gave the expected verdict.
    pub fn passed(&self) -> bool {
        self.expected == self.got
    }

    /// `case 'slow homepage render' (tests.yaml:12): SLI homepage: expected good, got bad`.
    pub fn headline(&self) -> String {
        format!(
            "case '{}' ({}:{}): SLI {}: expected {}, got {}",
            self.case, self.file, self.line, self.sli, self.expected, self.got
        )
    }
}

/// Every check of a run, in file and case order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The checks, one per (case, SLI named in its `expect`).
    pub checks: Vec<Check>,
    /// How many cases ran.
    pub cases: usize,
}

impl Report {
    /// How many checks failed.
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| !c.passed()).count()
    }

    /// The diff (each failed check, with the condition that decided) and a summary
    /// line; with `verbose`, the passed checks too.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = String::new();
        for check in &self.checks {
            if check.passed() && !verbose {
                continue;
            }
            let mark = if check.passed() { "ok: " } else { "" };
            let _ = writeln!(out, "{mark}{}", check.headline());
            let _ = writeln!(out, "    decided by {}", check.decided_by);
        }
        let failed = self.failed();
        let _ = writeln!(
            out,
            "{} check{} in {} case{}: {} passed, {failed} failed",
            self.checks.len(),
            plural(self.checks.len()),
            self.cases,
            plural(self.cases),
            self.checks.len() - failed,
        );
        out
    }

    /// SLIs of `catalog` that no check covered.
    pub fn unchecked<'c>(&self, catalog: &'c SliCatalog<'_>) -> Vec<&'c str> {
        let checked: BTreeSet<&str> = self.checks.iter().map(|c| c.sli.as_str()).collect();
        catalog.names().filter(|n| !checked.contains(n)).collect()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Runs every case of `files` through the SLIs of `catalog`. `Err` lists every
/// expectation that cannot be checked (an unknown or ambiguous SLI, an SLI whose
/// conditions cannot classify the case's kind of event); nothing runs then.
pub fn run(files: &[TestFile], catalog: &SliCatalog<'_>) -> Result<Report, Vec<String>> {
    let mut errors = Vec::new();
    let mut planned: Vec<(&TestFile, &TestCase, &str, Verdict, &CompiledSli, String)> = Vec::new();
    for file in files {
        for case in &file.cases {
            for (name, expected) in &case.expect {
                let at = format!("case '{}' ({}:{}): expect.{name}", case.name, file.path, case.line);
                let defined = match catalog.find(name) {
                    Ok(defined) => defined,
                    Err(why) => {
                        errors.push(format!("{at}: {why}"));
                        continue;
                    }
                };
                let compiled = match &case.sample {
                    Sample::Span { .. } => defined.spans,
                    Sample::Log { .. } => defined.logs,
                };
                match compiled {
                    Ok(sli) => planned.push((file, case, name, *expected, sli, defined.place())),
                    Err(why) => errors.push(format!(
                        "{at}: {} cannot classify a {} ({why})",
                        defined.place(),
                        case.sample.kind()
                    )),
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let checks = planned
        .into_iter()
        .map(|(file, case, name, expected, sli, place)| {
            let (got, decided_by) = judge(sli, &case.sample, &place);
            Check {
                file: file.path.clone(),
                case: case.name.clone(),
                line: case.line,
                sli: name.to_owned(),
                expected,
                got,
                decided_by,
            }
        })
        .collect();
    Ok(Report {
        checks,
        cases: files.iter().map(|f| f.cases.len()).sum(),
    })
}

/// The verdict `sli` gives `sample`, and which of its conditions decided it.
fn judge(sli: &CompiledSli, sample: &Sample, place: &str) -> (Verdict, String) {
    // One event in its own resource and scope: what a receiver hands the pipeline.
    let (outcome, decided_by) = match sample {
        Sample::Span { resource, scope, span } => {
            let view = SpanView {
                span,
                resource: Some(resource),
                scope: scope.as_ref(),
            };
            (sli.classify_span(&view), decided_by(sli, &|c| c.eval_span(&view)))
        }
        Sample::Log { resource, scope, log } => {
            let view = LogView {
                log,
                resource: Some(resource),
                scope: scope.as_ref(),
            };
            (sli.classify_log(&view), decided_by(sli, &|c| c.eval_log(&view)))
        }
    };
    let verdict = match outcome {
        Some(SliOutcome::Good) => Verdict::Good,
        Some(SliOutcome::Bad) => Verdict::Bad,
        None => Verdict::None,
    };
    (verdict, format!("{place}.{decided_by}"))
}

/// The condition that decided, in the order `classify_*` reads them: `when` when it
/// does not hold, else the first `exclude` that holds, else `good`.
fn decided_by(sli: &CompiledSli, holds: &dyn Fn(&Condition) -> bool) -> String {
    let says = |key: &str, condition: &Condition, held: bool| {
        // A block scalar's lines on one line; spaces inside the text stay as written.
        let text = condition
            .text()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let verb = if held { "holds" } else { "does not hold" };
        format!("{key}, which {verb}: {text}")
    };
    if let Some(when) = sli.when.as_ref().filter(|w| !holds(w)) {
        return says("when", when, false);
    }
    if let Some((j, exclude)) = sli.exclude.iter().enumerate().find(|(_, e)| holds(e)) {
        return says(&format!("exclude[{j}]"), exclude, true);
    }
    says("good", &sli.good, holds(&sli.good))
}
