//! Evaluating statement arguments. Literals and paths are read in place, as in
//! conditions; only converters build new values (a string, a list).

use std::borrow::Cow;
use std::fmt::Write as _;

use heck::{ToSnakeCase, ToUpperCamelCase};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};
use sha2::{Digest, Sha256};

use super::editors::ExecError;
use super::eval::{Subject, Val};
use super::statement::{Case, Converter, Getter};

/// A value computed for a statement: borrowed from the telemetry or the statement
/// where it can be, owned where a converter built it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out<'a> {
    Val(Val<'a>),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<AnyValue>),
    Map(Vec<KeyValue>),
}

impl Out<'_> {
    /// The value as a borrowed [`Val`].
    pub(crate) fn val(&self) -> Val<'_> {
        match self {
            Out::Val(v) => *v,
            Out::Str(s) => Val::Str(s),
            Out::Bytes(b) => Val::Bytes(b),
            Out::List(l) => Val::List(l),
            Out::Map(m) => Val::Map(m),
        }
    }

    /// Copies what is borrowed, so the telemetry it came from can be changed.
    pub(crate) fn into_owned(self) -> Out<'static> {
        match self {
            Out::Val(v) => match v {
                Val::Nil => Out::Val(Val::Nil),
                Val::Bool(b) => Out::Val(Val::Bool(b)),
                Val::Int(i) => Out::Val(Val::Int(i)),
                Val::Float(f) => Out::Val(Val::Float(f)),
                Val::Str(s) => Out::Str(s.to_owned()),
                Val::Bytes(b) => Out::Bytes(b.to_vec()),
                Val::List(l) => Out::List(l.to_vec()),
                Val::Map(m) => Out::Map(m.to_vec()),
            },
            Out::Str(s) => Out::Str(s),
            Out::Bytes(b) => Out::Bytes(b),
            Out::List(l) => Out::List(l),
            Out::Map(m) => Out::Map(m),
        }
    }

    /// The value as an attribute value; `None` for nil.
    pub(crate) fn into_any(self) -> Option<AnyValue> {
        let value = match self {
            Out::Val(Val::Nil) => return None,
            Out::Val(Val::Bool(b)) => any_value::Value::BoolValue(b),
            Out::Val(Val::Int(i)) => any_value::Value::IntValue(i),
            Out::Val(Val::Float(f)) => any_value::Value::DoubleValue(f),
            Out::Val(Val::Str(s)) => any_value::Value::StringValue(s.to_owned()),
            Out::Val(Val::Bytes(b)) => any_value::Value::BytesValue(b.to_vec()),
            Out::Val(Val::List(l)) => any_value::Value::ArrayValue(ArrayValue { values: l.to_vec() }),
            Out::Val(Val::Map(m)) => any_value::Value::KvlistValue(KeyValueList { values: m.to_vec() }),
            Out::Str(s) => any_value::Value::StringValue(s),
            Out::Bytes(b) => any_value::Value::BytesValue(b),
            Out::List(values) => any_value::Value::ArrayValue(ArrayValue { values }),
            Out::Map(values) => any_value::Value::KvlistValue(KeyValueList { values }),
        };
        Some(AnyValue { value: Some(value) })
    }
}

/// How a value's type is named in runtime errors.
pub(super) fn type_name(val: Val<'_>) -> &'static str {
    match val {
        Val::Nil => "nil",
        Val::Bool(_) => "a bool",
        Val::Int(_) => "an int",
        Val::Float(_) => "a float",
        Val::Str(_) => "a string",
        Val::Bytes(_) => "bytes",
        Val::List(_) => "a list",
        Val::Map(_) => "a map",
    }
}

impl Getter {
    /// Whether the value is a literal: it can be read while the telemetry is changed.
    pub(crate) fn literal(&self) -> Option<Val<'_>> {
        match self {
            Getter::Expr(super::eval::Expr::Lit(lit)) => Some(lit.val()),
            _ => None,
        }
    }

    pub(crate) fn eval<'a>(&'a self, subject: Subject<'a>) -> Result<Out<'a>, ExecError> {
        match self {
            Getter::Expr(expr) => Ok(Out::Val(expr.eval(subject))),
            Getter::List(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(value) = item.eval(subject)?.into_owned().into_any() {
                        values.push(value);
                    }
                }
                Ok(Out::List(values))
            }
            Getter::Converter(converter) => converter.eval(subject),
        }
    }
}

/// The string a converter works on; anything else (nil included) is an error, as
/// the Collector's string arguments are.
fn string_arg<'a>(getter: &'a Getter, subject: Subject<'a>, function: &str) -> Result<Cow<'a, str>, ExecError> {
    match getter.eval(subject)? {
        Out::Val(Val::Str(s)) => Ok(Cow::Borrowed(s)),
        Out::Str(s) => Ok(Cow::Owned(s)),
        other => Err(ExecError::new(format!(
            "{function} expects a string, found {}",
            type_name(other.val())
        ))),
    }
}

/// Writes a scalar as text, as the Collector's string-like arguments read them.
fn write_like_string(out: &mut String, val: Val<'_>) -> Result<(), ExecError> {
    match val {
        Val::Nil => out.push_str("<nil>"),
        Val::Str(s) => out.push_str(s),
        Val::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Val::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Val::Float(f) => {
            let _ = write!(out, "{f}");
        }
        Val::Bytes(b) => out.push_str(&hex::encode(b)),
        other => {
            return Err(ExecError::new(format!(
                "cannot turn {} into a string",
                type_name(other)
            )))
        }
    }
    Ok(())
}

impl Converter {
    fn eval<'a>(&'a self, subject: Subject<'a>) -> Result<Out<'a>, ExecError> {
        Ok(match self {
            Converter::Concat(values, delimiter) => {
                let mut out = String::new();
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        out.push_str(delimiter);
                    }
                    write_like_string(&mut out, value.eval(subject)?.val())?;
                }
                Out::Str(out)
            }
            Converter::Split(target, delimiter) => {
                let s = string_arg(target, subject, "Split")?;
                Out::List(
                    s.split(&**delimiter)
                        .map(|part| AnyValue {
                            value: Some(any_value::Value::StringValue(part.to_owned())),
                        })
                        .collect(),
                )
            }
            Converter::Substring(target, start, length) => {
                let value = string_arg(target, subject, "Substring")?;
                let end = start.saturating_add(*length);
                let out_of_range = |len: usize| {
                    ExecError::new(format!(
                        "Substring({start}, {length}) is out of range or not on a character boundary \
                         of a string of {len} bytes"
                    ))
                };
                match value {
                    // Borrowed from the telemetry: the part is too.
                    Cow::Borrowed(s) => Out::Val(Val::Str(s.get(*start..end).ok_or_else(|| out_of_range(s.len()))?)),
                    Cow::Owned(s) => Out::Str(s.get(*start..end).ok_or_else(|| out_of_range(s.len()))?.to_owned()),
                }
            }
            Converter::ConvertCase(target, case, name) => {
                let s = string_arg(target, subject, name)?;
                Out::Str(match case {
                    Case::Lower => s.to_lowercase(),
                    Case::Upper => s.to_uppercase(),
                    Case::Snake => s.to_snake_case(),
                    Case::Camel => s.to_upper_camel_case(),
                })
            }
            Converter::Sha256(target) => {
                let s = string_arg(target, subject, "SHA256")?;
                Out::Str(hex::encode(Sha256::digest(s.as_bytes())))
            }
            Converter::Int(value) => Out::Val(match value.eval(subject)?.val() {
                Val::Int(i) => Val::Int(i),
                Val::Float(f) => Val::Int(f as i64),
                Val::Bool(b) => Val::Int(i64::from(b)),
                Val::Str(s) => s.trim().parse().map_or(Val::Nil, Val::Int),
                _ => Val::Nil,
            }),
            Converter::Double(value) => Out::Val(match value.eval(subject)?.val() {
                Val::Float(f) => Val::Float(f),
                Val::Int(i) => Val::Float(i as f64),
                Val::Bool(b) => Val::Float(if b { 1.0 } else { 0.0 }),
                Val::Str(s) => s.trim().parse().map_or(Val::Nil, Val::Float),
                _ => Val::Nil,
            }),
            Converter::String(value) => {
                let value = value.eval(subject)?;
                match value.val() {
                    Val::Nil => Out::Val(Val::Nil),
                    Val::Str(_) => value,
                    other => {
                        let mut out = String::new();
                        write_like_string(&mut out, other)?;
                        Out::Str(out)
                    }
                }
            }
        })
    }
}
