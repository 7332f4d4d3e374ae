//! The bridge to stanza's `expr` language (`expr.rs`): compiled once at build, a
//! [`Condition`] answers `if:`, `filter.expr`, the router's routes and
//! recombine's `is_first_entry`/`is_last_entry`; an [`Expression`] computes
//! `add`'s `EXPR(...)` values.

use opentelemetry_proto::tonic::common::v1::AnyValue;

use super::expr::Expr;
use crate::receivers::filelog::entry::Entry;

/// A boolean expression over an entry.
#[derive(Debug, Clone)]
pub struct Condition(Expr);

impl Condition {
    /// Compiles `text`; the error says what is wrong in it.
    pub fn parse(text: &str) -> Result<Self, String> {
        Expr::parse(text).map(Condition)
    }

    /// Whether the entry matches (false when the expression does not evaluate to true).
    pub fn matches(&self, entry: &Entry) -> bool {
        self.0.matches(entry)
    }
}

/// An expression computing a value from an entry.
#[derive(Debug, Clone)]
pub struct Expression(Expr);

impl Expression {
    /// Compiles `text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        Expr::parse(text).map(Expression)
    }

    /// The value, or `None` when the expression has none for this entry.
    pub fn eval(&self, entry: &Entry) -> Option<AnyValue> {
        self.0.eval(entry)
    }
}
