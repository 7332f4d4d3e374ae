//! The transformers that rearrange fields: `move`, `copy`, `add`, `remove`,
//! `flatten`. A missing source field is an error (handled per `on_error`), as in
//! stanza.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};

use super::condition::Expression;
use super::field::{Field, Root};
use crate::receivers::filelog::entry::Entry;

/// A compiled transformer.
#[derive(Debug)]
pub enum Transform {
    /// `move`: remove `from`, set `to`.
    Move {
        /// Source.
        from: Field,
        /// Destination.
        to: Field,
    },
    /// `copy`: set `to` to a copy of `from`.
    Copy {
        /// Source.
        from: Field,
        /// Destination.
        to: Field,
    },
    /// `add`: set `field` to a value.
    Add {
        /// Destination.
        field: Field,
        /// What to set.
        value: AddValue,
    },
    /// `remove`: remove `field`.
    Remove {
        /// The field.
        field: Field,
    },
    /// `flatten`: the map at `field` is replaced by its members, one level up.
    Flatten {
        /// A map below `body`.
        field: Field,
    },
}

/// `add`'s value: fixed, or an expression evaluated per entry.
#[derive(Debug)]
pub enum AddValue {
    /// The same value for every entry.
    Fixed(AnyValue),
    /// `EXPR(...)`.
    Expr(Expression),
}

impl Transform {
    /// Applies the transformer to `entry`.
    pub fn apply(&self, entry: &mut Entry) -> Result<(), String> {
        match self {
            Transform::Move { from, to } => {
                let value = from.remove(entry).ok_or_else(|| format!("entry has no field {from}"))?;
                to.set(entry, value)
            }
            Transform::Copy { from, to } => {
                let value = from
                    .get(entry)
                    .ok_or_else(|| format!("entry has no field {from}"))?
                    .into_owned();
                to.set(entry, value)
            }
            Transform::Add { field, value } => {
                let value = match value {
                    AddValue::Fixed(value) => value.clone(),
                    AddValue::Expr(expr) => expr
                        .eval(entry)
                        .ok_or_else(|| format!("the expression for {field} has no value for this entry"))?,
                };
                field.set(entry, value)
            }
            Transform::Remove { field } => field
                .remove(entry)
                .map(drop)
                .ok_or_else(|| format!("entry has no field {field}")),
            Transform::Flatten { field } => flatten(field, entry),
        }
    }
}

/// Checks that `field` is somewhere `flatten` works: a key below `body`, as stanza
/// requires.
pub fn check_flatten_field(field: &Field) -> Result<(), String> {
    if field.root != Root::Body || field.keys.is_empty() {
        return Err(format!("{field}: flatten works on a map below body, as body.key"));
    }
    Ok(())
}

fn flatten(field: &Field, entry: &mut Entry) -> Result<(), String> {
    let value = field
        .remove(entry)
        .ok_or_else(|| format!("entry has no field {field}"))?;
    let members = match value.value {
        Some(any_value::Value::KvlistValue(list)) => list.values,
        other => {
            // Put it back: flatten fails without changing the entry.
            let kind = AnyValue { value: other };
            let name = super::values::type_name(&kind);
            field.set(entry, kind)?;
            return Err(format!("{field} is a {name}, not a map"));
        }
    };
    let parent = Field {
        root: field.root,
        keys: field.keys.split_last().map(|(_, up)| up.to_vec()).unwrap_or_default(),
    };
    for member in members {
        let mut keys = parent.keys.clone();
        keys.push(member.key);
        let target = Field {
            root: parent.root,
            keys,
        };
        target.set(entry, member.value.unwrap_or_default())?;
    }
    Ok(())
}
