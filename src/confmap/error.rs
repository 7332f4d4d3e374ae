//! Config errors that name the full path of what is wrong.

use std::fmt;

use figment::error::Kind;

/// One problem in the config, at a dotted path
/// (`exporters.otlp_grpc/vendor-a.sending_queue.queu_size`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path from the config root; empty for the whole file.
    pub path: String,
    /// What is wrong there, lowercase, no trailing period.
    pub message: String,
    /// For errors inside a value (a condition), where in that value.
    pub locate: Option<Locate>,
}

/// A position inside a config value, to be turned into file:line:column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locate {
    /// The whole value as written.
    pub text: String,
    /// 1-based line within the value.
    pub line: usize,
    /// 1-based column within that line.
    pub column: usize,
}

impl ConfigError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            locate: None,
        }
    }

    /// Marks the error as being at a position inside the value at its path.
    pub fn located(mut self, locate: Locate) -> Self {
        self.locate = Some(locate);
        self
    }

    /// Points the error at `file:line:column` when the value's text is found in one
    /// of `sources` ((file name, contents), searched last first, as later files
    /// win). Otherwise the position within the value is stated.
    pub fn resolve_location(&mut self, sources: &[(String, String)]) {
        let Some(locate) = self.locate.take() else { return };
        let lines: Vec<&str> = locate.text.lines().collect();
        let first_line = lines.first().copied().unwrap_or("");
        for (file, contents) in sources.iter().rev() {
            if first_line.is_empty() {
                break;
            }
            let file_lines: Vec<&str> = contents.lines().collect();
            // Every place the first line occurs; the right one is where the value's
            // later lines (a block scalar's) follow it, ignoring indentation.
            let found = contents
                .match_indices(first_line)
                .map(|(offset, _)| offset)
                .find(|offset| {
                    let start = contents[..*offset].matches('\n').count();
                    lines.iter().enumerate().skip(1).all(|(k, line)| {
                        file_lines
                            .get(start + k)
                            .is_some_and(|f| f.trim_start() == line.trim_start())
                    })
                });
            let Some(offset) = found else { continue };
            let before = &contents[..offset];
            let value_line = before.matches('\n').count() + 1;
            let value_column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let (line, column) = if locate.line == 1 {
                (value_line, value_column + locate.column - 1)
            } else {
                // A block scalar's lines lose the block's indentation (that of its
                // first line); columns within the value count from there.
                (value_line + locate.line - 1, value_column - 1 + locate.column)
            };
            self.message = format!("{file}:{line}:{column}: {}", self.message);
            return;
        }
        self.message = format!(
            "line {}, column {} of the condition: {}",
            locate.line, locate.column, self.message
        );
    }

    /// Prepends `prefix` to the path (`sending_queue.x` under `exporters.otlp`).
    pub fn under(mut self, prefix: &str) -> Self {
        // (Keeps `locate`: the value is the same, only its path grows.)
        self.path = join_path(prefix, &self.path);
        self
    }

    /// Converts a figment/serde error into ours, keeping its path and adding a
    /// "did you mean" hint for misspelled keys and values.
    pub fn from_figment(error: figment::Error) -> Vec<ConfigError> {
        error.into_iter().map(|e| Self::from_one(&e)).collect()
    }

    /// One error of a figment chain (see [`ConfigError::from_figment`]).
    pub(crate) fn from_one(e: &figment::Error) -> ConfigError {
        // figment's path already ends with the offending key.
        let path = e.path.join(".");
        let message = match &e.kind {
            Kind::UnknownField(field, expected) => unknown("field", field, expected),
            Kind::UnknownVariant(value, expected) => unknown("value", value, expected),
            Kind::MissingField(field) => format!("missing required field `{field}`"),
            Kind::InvalidType(actual, expected) => {
                format!("invalid type: found {actual}, expected {expected}")
            }
            Kind::InvalidValue(actual, expected) => {
                format!("invalid value: found {actual}, expected {expected}")
            }
            Kind::Message(message) => message.clone(),
            other => other.to_string(),
        };
        ConfigError::new(path, message)
    }
}

fn unknown(what: &str, found: &str, expected: &[&str]) -> String {
    match did_you_mean(found, expected.iter().copied()) {
        Some(best) => format!("unknown {what}, did you mean {best}?"),
        None if expected.is_empty() => format!("unknown {what}"),
        None => format!("unknown {what}, expected one of: {}", expected.join(", ")),
    }
}

/// The candidate closest to `found`, if any is near enough to be a likely typo: at
/// most one edit (insertion, deletion, substitution or swap of neighbours, ignoring
/// case) per four characters of `found`, and at least one allowed. Only near misses
/// get a hint; `k8s_attributes` is not a misspelling of `attributes`, and a hint
/// pointing there sends the reader the wrong way.
pub fn did_you_mean<'a>(found: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let found_lower = found.to_lowercase();
    let allowed = (found.chars().count() / 4).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&found_lower, &c.to_lowercase()), c))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}.{rest}"),
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a config, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "invalid configuration ({n} error{}):", if n == 1 { "" } else { "s" })?;
        for error in &self.0 {
            writeln!(f, "  {error}")?;
        }
        Ok(())
    }
}
