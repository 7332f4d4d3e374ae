//! `sli` processor config: SLIs as conditions in the shared condition language.

use serde::Deserialize;

use crate::confmap::{ConfigError, Locate, Validate};
use crate::ottl::{Condition, Context, ParseError};

/// `processors.sli`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliProcessorConfig {
    /// The indicators to classify events by.
    pub slis: Vec<SliConfig>,
}

/// One service level indicator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliConfig {
    /// Name; events get the attribute `sli.<name>`.
    pub name: String,
    /// Which events count at all (default: every event).
    #[serde(default)]
    pub when: Option<String>,
    /// Events to leave out even when `when` holds: load tests, bots, health checks.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The success condition: `good` when it holds, `bad` otherwise.
    pub good: String,
}

impl Validate for SliProcessorConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.slis.is_empty() {
            errors.push(ConfigError::new("slis", "at least one SLI is required"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, sli) in self.slis.iter().enumerate() {
            let valid =
                !sli.name.is_empty() && sli.name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            if !valid {
                errors.push(ConfigError::new(
                    format!("slis[{i}].name"),
                    "use letters, digits, '_', '-' and '.'",
                ));
            }
            if !seen.insert(sli.name.as_str()) {
                errors.push(ConfigError::new(
                    format!("slis[{i}].name"),
                    format!("duplicate SLI name {:?}", sli.name),
                ));
            }
        }
        errors
    }
}

/// One SLI's conditions, compiled for one context.
#[derive(Debug, Clone)]
pub struct CompiledSli {
    /// The SLI's name.
    pub name: String,
    /// `sli.<name>`.
    pub attribute: String,
    /// Eligibility.
    pub when: Option<Condition>,
    /// Exclusions.
    pub exclude: Vec<Condition>,
    /// Success.
    pub good: Condition,
}

/// Every SLI compiled for spans and for log records; a context whose conditions do
/// not all compile keeps the first error instead.
#[derive(Debug, Clone)]
pub struct CompiledSlis {
    /// The SLI names, in order.
    pub names: Vec<String>,
    /// For traces pipelines.
    pub spans: Result<Vec<CompiledSli>, String>,
    /// For logs pipelines.
    pub logs: Result<Vec<CompiledSli>, String>,
}

/// A condition's location in the config, for an error.
struct Failed {
    /// (SLI index, condition index within it): how far compilation got.
    order: (usize, usize),
    path: String,
    text: String,
    error: ParseError,
}

fn compile_context(config: &SliProcessorConfig, context: Context) -> Result<Vec<CompiledSli>, Failed> {
    let compile = |order: (usize, usize), path: String, text: &str| {
        Condition::parse(text, context).map_err(|error| Failed {
            order,
            path,
            text: text.to_owned(),
            error,
        })
    };
    config
        .slis
        .iter()
        .enumerate()
        .map(|(i, sli)| {
            Ok(CompiledSli {
                name: sli.name.clone(),
                attribute: crate::processors::slo::sli_attribute(&sli.name),
                when: sli
                    .when
                    .as_deref()
                    .map(|w| compile((i, 0), format!("slis[{i}].when"), w))
                    .transpose()?,
                exclude: sli
                    .exclude
                    .iter()
                    .enumerate()
                    .map(|(j, e)| compile((i, j + 1), format!("slis[{i}].exclude[{j}]"), e))
                    .collect::<Result<_, _>>()?,
                good: compile((i, usize::MAX), format!("slis[{i}].good"), &sli.good)?,
            })
        })
        .collect()
}

impl CompiledSlis {
    /// Compiles every condition for both contexts. A condition that compiles in
    /// neither is a config error at its line and column.
    pub fn compile(config: SliProcessorConfig) -> Result<Self, Vec<ConfigError>> {
        let spans = compile_context(&config, Context::Span);
        let logs = compile_context(&config, Context::Log);
        if let (Err(span), Err(log)) = (&spans, &logs) {
            // Report the error of the context that compiled further: a span-only path
            // fails at once for logs, while the span context reaches the real error.
            let failed =
                if (span.order, span.error.line, span.error.column) >= (log.order, log.error.line, log.error.column) {
                    span
                } else {
                    log
                };
            return Err(vec![ConfigError::new(
                failed.path.clone(),
                failed.error.message.clone(),
            )
            .located(Locate {
                text: failed.text.clone(),
                line: failed.error.line,
                column: failed.error.column,
            })]);
        }
        let describe = |f: Failed| {
            format!(
                "{}: {} (line {}, column {} of the condition)",
                f.path, f.error.message, f.error.line, f.error.column
            )
        };
        Ok(Self {
            names: config.slis.iter().map(|s| s.name.clone()).collect(),
            spans: spans.map_err(describe),
            logs: logs.map_err(describe),
        })
    }
}
