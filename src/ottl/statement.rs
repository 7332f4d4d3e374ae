//! Statements: `editor(arguments) where condition`, parsed and type-checked once, with
//! the condition parser doing the paths, literals and the `where` clause.

use regex::Regex;

use super::eval::{Expr, Lit, Node, Path};
use super::lexer::{error_at, tokenize, Tok, Token};
use super::parser::{Operand, Parser};
use super::paths::{suggest, IntKind, Ty};
use super::{Context, ParseError};

/// Every converter (a function that returns a value), sorted by name.
pub(crate) const CONVERTERS: &[&str] = &[
    "Concat",
    "ConvertCase",
    "Double",
    "Int",
    "SHA256",
    "Split",
    "String",
    "Substring",
    "ToLowerCase",
    "ToUpperCase",
];

/// Every editor (a function that changes the telemetry), sorted by name.
pub(crate) const EDITORS: &[&str] = &[
    "delete_key",
    "delete_matching_keys",
    "flatten",
    "keep_keys",
    "keep_matching_keys",
    "limit",
    "merge_maps",
    "replace_all_matches",
    "replace_all_patterns",
    "replace_match",
    "replace_pattern",
    "set",
    "truncate_all",
];

/// A parsed statement. Parse once at startup with [`Statement::parse`]; run it with
/// [`Statement::execute`](crate::ottl::Statement::execute).
#[derive(Debug, Clone)]
pub struct Statement {
    pub(super) text: String,
    pub(super) context: Context,
    pub(super) editor: Editor,
    pub(super) condition: Option<Node>,
}

/// A value argument: a literal, path or condition function (which read without
/// allocating), a list, or a converter call.
#[derive(Debug, Clone)]
pub(crate) enum Getter {
    Expr(Expr),
    List(Vec<Getter>),
    Converter(Box<Converter>),
}

/// A converter call, arguments checked.
#[derive(Debug, Clone)]
pub(crate) enum Converter {
    Concat(Vec<Getter>, Box<str>),
    Split(Getter, Box<str>),
    Substring(Getter, usize, usize),
    /// With the converter's name, for errors.
    ConvertCase(Getter, Case, &'static str),
    Int(Getter),
    Double(Getter),
    String(Getter),
    Sha256(Getter),
}

/// `ConvertCase`'s cases (and `ToLowerCase`/`ToUpperCase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Lower,
    Upper,
    Snake,
    Camel,
}

/// What `replace_all_patterns` rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Key,
    Value,
}

/// How `merge_maps` treats keys already in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    Insert,
    Update,
    Upsert,
}

/// An editor call, arguments checked.
#[derive(Debug, Clone)]
pub(crate) enum Editor {
    Set(Path, Getter),
    DeleteKey(Path, Box<str>),
    DeleteMatchingKeys(Path, Regex),
    KeepKeys(Path, Box<[Box<str>]>),
    KeepMatchingKeys(Path, Regex),
    Limit(Path, usize, Box<[Box<str>]>),
    TruncateAll(Path, usize),
    ReplacePattern(Path, Regex, Getter),
    ReplaceAllPatterns(Path, Mode, Regex, Getter),
    /// The glob, compiled to an anchored regex.
    ReplaceMatch(Path, Regex, Getter),
    ReplaceAllMatches(Path, Regex, Getter),
    MergeMaps(Path, Getter, Strategy),
    Flatten(Path, Option<Box<str>>, Option<usize>),
}

impl Statement {
    /// Parses and type-checks `text` for `context`. Paths may carry a context prefix
    /// (`span.name`, `resource.attributes["k"]`, `scope.name`) or be written as in
    /// conditions (`name`).
    pub fn parse(text: &str, context: Context) -> Result<Statement, ParseError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser::new(text, tokens, context, true);
        let (editor, condition) = parser.statement()?;
        Ok(Statement {
            text: text.to_string(),
            context,
            editor,
            condition,
        })
    }

    /// The original text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The context the statement was parsed for.
    pub fn context(&self) -> Context {
        self.context
    }
}

impl std::fmt::Display for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The context prefixes paths can start with.
const PREFIXES: [(&str, Context); 7] = [
    ("resource", Context::Resource),
    ("scope", Context::Scope),
    ("span", Context::Span),
    ("spanevent", Context::SpanEvent),
    ("log", Context::Log),
    ("metric", Context::Metric),
    ("datapoint", Context::DataPoint),
];

/// Infers the context of a group of statements and conditions from their path
/// prefixes, as the Collector's transform processor does: the most specific of
/// `allowed` (ordered from least to most specific, like resource, scope, span,
/// spanevent) whose prefix appears. An error names the text (by index) and the
/// position of a prefix that `allowed` does not have, or says no prefix was found.
pub fn infer_context(texts: &[&str], allowed: &[Context]) -> Result<Context, (usize, ParseError)> {
    let names = |contexts: &[Context]| {
        let names: Vec<&str> = contexts
            .iter()
            .filter_map(|c| PREFIXES.iter().find(|(_, p)| p == c).map(|(n, _)| *n))
            .collect();
        names.join(", ")
    };
    let mut best: Option<usize> = None;
    for (i, text) in texts.iter().enumerate() {
        let tokens = tokenize(text).map_err(|e| (i, e))?;
        for (k, token) in tokens.iter().enumerate() {
            let Tok::Ident(word) = token.tok else { continue };
            let starts_path = k == 0 || tokens[k - 1].tok != Tok::Dot;
            let dotted = tokens.get(k + 1).is_some_and(|t| t.tok == Tok::Dot);
            if !starts_path || !dotted {
                continue;
            }
            let Some(&(_, context)) = PREFIXES.iter().find(|(n, _)| *n == word) else {
                continue;
            };
            let Some(rank) = allowed.iter().position(|c| *c == context) else {
                return Err((
                    i,
                    error_at(
                        text,
                        token.start,
                        format!(
                            "{word} paths cannot be used here; paths here start with {}",
                            names(allowed)
                        ),
                    ),
                ));
            };
            best = best.max(Some(rank));
        }
    }
    match best {
        Some(rank) => Ok(allowed[rank]),
        None => Err((
            0,
            error_at(
                texts.first().copied().unwrap_or_default(),
                0,
                format!(
                    "cannot infer the context: no path starts with {}; prefix the paths \
                     (span.name) or give the group a context",
                    names(allowed)
                ),
            ),
        )),
    }
}

/// An argument as parsed, with what is known about it statically.
struct Arg {
    getter: Getter,
    ty: Ty,
    start: usize,
    literal: bool,
}

impl Parser<'_> {
    /// `editor(args) [where condition]`.
    pub(super) fn statement(&mut self) -> Result<(Editor, Option<Node>), ParseError> {
        let first = self.bump();
        let name = match first.tok {
            Tok::Ident(name) if self.peek().tok == Tok::LParen => name,
            Tok::Eof => return Err(self.err(0, "empty statement")),
            _ => {
                return Err(self.err(
                    first.start,
                    format!(
                        "a statement starts with an editor call like set(...), found {}",
                        self.found(&first)
                    ),
                ))
            }
        };
        if !EDITORS.contains(&name) {
            let known = EDITORS.join(", ");
            let message = if CONVERTERS.contains(&name) || super::paths::FUNCTIONS.contains(&name) {
                format!("{name} returns a value and cannot be a statement; editors are {known}")
            } else {
                match suggest(name, EDITORS.iter().copied()) {
                    Some(s) => format!("unknown editor {name}, did you mean {s}? editors are {known}"),
                    None => format!("unknown editor {name}; editors are {known}"),
                }
            };
            return Err(self.err(first.start, message));
        }
        let args = self.arguments()?;
        let editor = self.editor(name, first.start, args)?;
        let next = self.bump();
        let condition = match next.tok {
            Tok::Eof => None,
            Tok::Ident("where") => {
                if self.peek().tok == Tok::Eof {
                    return Err(self.err(next.start, "expected a condition after where"));
                }
                let node = self.or()?;
                let end = self.peek();
                if end.tok != Tok::Eof {
                    return Err(self.err(
                        end.start,
                        format!(
                            "expected 'and', 'or' or the end of the statement, found {}",
                            self.found(end)
                        ),
                    ));
                }
                Some(node)
            }
            _ => {
                return Err(self.err(
                    next.start,
                    format!(
                        "expected 'where' or the end of the statement, found {}",
                        self.found(&next)
                    ),
                ))
            }
        };
        Ok((editor, condition))
    }

    /// `( [arg {, arg}] )`, the opening parenthesis next.
    fn arguments(&mut self) -> Result<Vec<Arg>, ParseError> {
        self.delimited(Tok::RParen, Self::arg)
    }

    /// One argument: a list `[...]`, a converter call, or a condition value.
    fn arg(&mut self) -> Result<Arg, ParseError> {
        let token: Token<'_> = self.peek().clone();
        match token.tok {
            Tok::LBracket => {
                let items = self.delimited(Tok::RBracket, |p| p.arg().map(|a| a.getter))?;
                Ok(Arg {
                    getter: Getter::List(items),
                    ty: Ty::Any,
                    start: token.start,
                    literal: false,
                })
            }
            Tok::Ident(name)
                if CONVERTERS.contains(&name)
                    && self.tokens.get(self.pos + 1).is_some_and(|t| t.tok == Tok::LParen) =>
            {
                self.bump();
                let args = self.arguments()?;
                let (converter, ty) = self.converter(name, token.start, args)?;
                Ok(Arg {
                    getter: Getter::Converter(Box::new(converter)),
                    ty,
                    start: token.start,
                    literal: false,
                })
            }
            _ => {
                let Operand {
                    expr,
                    ty,
                    start,
                    literal,
                    ..
                } = self.value()?;
                Ok(Arg {
                    getter: Getter::Expr(expr),
                    ty,
                    start,
                    literal,
                })
            }
        }
    }

    fn arity(&self, name: &str, params: &str, at: usize, args: &[Arg], optional: usize) -> Result<(), ParseError> {
        let required = if params.is_empty() {
            0
        } else {
            params.split(", ").count()
        } - optional;
        let max = required + optional;
        if args.len() < required || args.len() > max {
            let takes = if optional == 0 {
                format!("{required}")
            } else {
                format!("{required} to {max}")
            };
            return Err(self.err(
                at,
                format!(
                    "wrong number of arguments: {name}({params}) takes {takes}, found {}",
                    args.len()
                ),
            ));
        }
        Ok(())
    }

    fn converter(&self, name: &str, at: usize, args: Vec<Arg>) -> Result<(Converter, Ty), ParseError> {
        let params = match name {
            "Concat" => "values, delimiter",
            "Split" => "target, delimiter",
            "Substring" => "target, start, length",
            "ConvertCase" => "target, case",
            _ => "value",
        };
        self.arity(name, params, at, &args, 0)?;
        let mut args = args.into_iter();
        let mut next = || args.next().ok_or_else(|| self.err(at, "missing argument"));
        let first = next()?;
        let converter = match name {
            "Concat" => {
                let Getter::List(values) = first.getter else {
                    return Err(self.err(first.start, "the values of Concat are a list, like [span.name, \"x\"]"));
                };
                Converter::Concat(values, self.string_literal(&next()?, "the delimiter of Concat")?)
            }
            "Split" => {
                self.string_like(&first, name)?;
                Converter::Split(first.getter, self.string_literal(&next()?, "the delimiter of Split")?)
            }
            "Substring" => {
                self.string_like(&first, name)?;
                let start = self.int_literal(&next()?, "the start of Substring", 0)?;
                let length = self.int_literal(&next()?, "the length of Substring", 1)?;
                Converter::Substring(first.getter, start, length)
            }
            "ConvertCase" => {
                self.string_like(&first, name)?;
                let case_arg = next()?;
                let case = match &*self.string_literal(&case_arg, "the case of ConvertCase")? {
                    "lower" => Case::Lower,
                    "upper" => Case::Upper,
                    "snake" => Case::Snake,
                    "camel" => Case::Camel,
                    other => {
                        return Err(self.err(
                            case_arg.start,
                            format!("unknown case {other:?}; cases are \"lower\", \"upper\", \"snake\" and \"camel\""),
                        ))
                    }
                };
                Converter::ConvertCase(first.getter, case, "ConvertCase")
            }
            "ToLowerCase" | "ToUpperCase" => {
                self.string_like(&first, name)?;
                let (case, name) = if name == "ToLowerCase" {
                    (Case::Lower, "ToLowerCase")
                } else {
                    (Case::Upper, "ToUpperCase")
                };
                Converter::ConvertCase(first.getter, case, name)
            }
            "SHA256" => {
                self.string_like(&first, name)?;
                Converter::Sha256(first.getter)
            }
            "Int" => Converter::Int(first.getter),
            "Double" => Converter::Double(first.getter),
            _ => Converter::String(first.getter),
        };
        let ty = match &converter {
            Converter::Split(..) => Ty::Any,
            Converter::Int(_) => Ty::Int(IntKind::Plain),
            Converter::Double(_) => Ty::Float,
            _ => Ty::Str,
        };
        Ok((converter, ty))
    }

    /// Refuses an argument known not to be a string.
    fn string_like(&self, arg: &Arg, function: &str) -> Result<(), ParseError> {
        if matches!(arg.ty, Ty::Str | Ty::Any) {
            return Ok(());
        }
        Err(self.err(
            arg.start,
            format!("the target of {function} must be a string, found {}", arg.ty.name()),
        ))
    }

    fn string_literal(&self, arg: &Arg, what: &str) -> Result<Box<str>, ParseError> {
        match &arg.getter {
            Getter::Expr(Expr::Lit(Lit::Str(s))) => Ok(s.clone()),
            _ => Err(self.err(arg.start, format!("{what} must be a string literal"))),
        }
    }

    fn int_literal(&self, arg: &Arg, what: &str, min: i64) -> Result<usize, ParseError> {
        match &arg.getter {
            Getter::Expr(Expr::Lit(Lit::Int(i))) if *i >= min => {
                usize::try_from(*i).map_err(|_| self.err(arg.start, format!("{what} is out of range")))
            }
            Getter::Expr(Expr::Lit(Lit::Int(_))) => Err(self.err(arg.start, format!("{what} must be at least {min}"))),
            _ => Err(self.err(arg.start, format!("{what} must be an int literal"))),
        }
    }

    fn string_list(&self, arg: &Arg, what: &str) -> Result<Box<[Box<str>]>, ParseError> {
        let Getter::List(items) = &arg.getter else {
            return Err(self.err(
                arg.start,
                format!("{what} must be a list of strings, like [\"a\", \"b\"]"),
            ));
        };
        items
            .iter()
            .map(|item| match item {
                Getter::Expr(Expr::Lit(Lit::Str(s))) => Ok(s.clone()),
                _ => Err(self.err(arg.start, format!("{what} must be a list of string literals"))),
            })
            .collect()
    }

    fn regex_literal(&self, arg: &Arg, what: &str) -> Result<Regex, ParseError> {
        let pattern = self.string_literal(arg, what)?;
        Regex::new(&pattern).map_err(|e| {
            let detail = e.to_string();
            let detail = detail.lines().last().unwrap_or_default().trim().to_string();
            let detail = detail.strip_prefix("error: ").unwrap_or(&detail).to_lowercase();
            self.err(arg.start, format!("invalid regex: {detail}"))
        })
    }

    fn glob_literal(&self, arg: &Arg, what: &str) -> Result<Regex, ParseError> {
        let pattern = self.string_literal(arg, what)?;
        Regex::new(&glob_to_regex(&pattern)).map_err(|_| self.err(arg.start, format!("invalid pattern {pattern:?}")))
    }

    /// A path to change; `map` requires one that can hold a map.
    fn target(&self, arg: Arg, editor: &str, map: bool) -> Result<Path, ParseError> {
        let Getter::Expr(Expr::Path(path)) = arg.getter else {
            return Err(self.err(
                arg.start,
                format!("the target of {editor} must be a path, like attributes[\"key\"]"),
            ));
        };
        if !super::editors::settable(path.field, self.context) {
            return Err(self.err(
                arg.start,
                format!(
                    "{} cannot be changed in {} statements",
                    self.source_of(arg.start),
                    self.context.singular()
                ),
            ));
        }
        if map && !matches!(arg.ty, Ty::Map | Ty::Any) {
            return Err(self.err(
                arg.start,
                format!(
                    "the target of {editor} must be a map, found {} ({})",
                    self.source_of(arg.start),
                    arg.ty.name()
                ),
            ));
        }
        Ok(path)
    }

    /// The path or value written at `start`, for messages.
    fn source_of(&self, start: usize) -> &str {
        let end = self
            .tokens
            .iter()
            .skip_while(|t| t.start < start)
            .take_while(|t| {
                matches!(
                    t.tok,
                    Tok::Ident(_) | Tok::Dot | Tok::LBracket | Tok::RBracket | Tok::Str(_) | Tok::Int(_)
                )
            })
            .last()
            .map_or(start, |t| t.end);
        &self.text[start..end]
    }

    fn editor(&self, name: &str, at: usize, args: Vec<Arg>) -> Result<Editor, ParseError> {
        let (params, optional) = match name {
            "set" => ("target, value", 0),
            "delete_key" => ("target, key", 0),
            "delete_matching_keys" | "keep_matching_keys" => ("target, pattern", 0),
            "keep_keys" => ("target, keys", 0),
            "limit" => ("target, limit, priority_keys", 0),
            "truncate_all" => ("target, limit", 0),
            "replace_pattern" => ("target, regex, replacement", 0),
            "replace_all_patterns" => ("target, mode, regex, replacement", 0),
            "replace_match" | "replace_all_matches" => ("target, pattern, replacement", 0),
            "merge_maps" => ("target, source, strategy", 0),
            _ => ("target, prefix, depth", 2),
        };
        self.arity(name, params, at, &args, optional)?;
        let mut args = args.into_iter();
        let mut next = || args.next().ok_or_else(|| self.err(at, "missing argument"));
        let target = next()?;
        Ok(match name {
            "set" => {
                let target_ty = target.ty;
                let path = self.target(target, name, false)?;
                let value = next()?;
                self.check_assignable(target_ty, &value)?;
                Editor::Set(path, value.getter)
            }
            "delete_key" => Editor::DeleteKey(
                self.target(target, name, true)?,
                self.string_literal(&next()?, "the key of delete_key")?,
            ),
            "delete_matching_keys" => Editor::DeleteMatchingKeys(
                self.target(target, name, true)?,
                self.regex_literal(&next()?, "the pattern of delete_matching_keys")?,
            ),
            "keep_keys" => Editor::KeepKeys(
                self.target(target, name, true)?,
                self.string_list(&next()?, "the keys of keep_keys")?,
            ),
            "keep_matching_keys" => Editor::KeepMatchingKeys(
                self.target(target, name, true)?,
                self.regex_literal(&next()?, "the pattern of keep_matching_keys")?,
            ),
            "limit" => {
                let path = self.target(target, name, true)?;
                let limit_arg = next()?;
                let limit = self.int_literal(&limit_arg, "the limit of limit", 1)?;
                let priority = self.string_list(&next()?, "the priority keys of limit")?;
                if priority.len() >= limit {
                    return Err(self.err(
                        limit_arg.start,
                        format!(
                            "the limit ({limit}) must be greater than the number of priority keys ({})",
                            priority.len()
                        ),
                    ));
                }
                Editor::Limit(path, limit, priority)
            }
            "truncate_all" => Editor::TruncateAll(
                self.target(target, name, true)?,
                self.int_literal(&next()?, "the limit of truncate_all", 0)?,
            ),
            "replace_pattern" => {
                let path = self.target(target, name, false)?;
                let regex = self.regex_literal(&next()?, "the regex of replace_pattern")?;
                Editor::ReplacePattern(path, regex, self.replacement(next()?)?)
            }
            "replace_all_patterns" => {
                let path = self.target(target, name, true)?;
                let mode_arg = next()?;
                let mode = match &*self.string_literal(&mode_arg, "the mode of replace_all_patterns")? {
                    "key" => Mode::Key,
                    "value" => Mode::Value,
                    other => {
                        return Err(self.err(
                            mode_arg.start,
                            format!("unknown mode {other:?}; modes are \"key\" and \"value\""),
                        ))
                    }
                };
                let regex = self.regex_literal(&next()?, "the regex of replace_all_patterns")?;
                Editor::ReplaceAllPatterns(path, mode, regex, self.replacement(next()?)?)
            }
            "replace_match" => {
                let path = self.target(target, name, false)?;
                let glob = self.glob_literal(&next()?, "the pattern of replace_match")?;
                Editor::ReplaceMatch(path, glob, self.replacement(next()?)?)
            }
            "replace_all_matches" => {
                let path = self.target(target, name, true)?;
                let glob = self.glob_literal(&next()?, "the pattern of replace_all_matches")?;
                Editor::ReplaceAllMatches(path, glob, self.replacement(next()?)?)
            }
            "merge_maps" => {
                let path = self.target(target, name, true)?;
                let source = next()?;
                if !matches!(source.ty, Ty::Map | Ty::Any) {
                    return Err(self.err(source.start, "the source of merge_maps must be a map"));
                }
                let strategy_arg = next()?;
                let strategy = match &*self.string_literal(&strategy_arg, "the strategy of merge_maps")? {
                    "insert" => Strategy::Insert,
                    "update" => Strategy::Update,
                    "upsert" => Strategy::Upsert,
                    other => {
                        return Err(self.err(
                            strategy_arg.start,
                            format!("unknown strategy {other:?}; strategies are \"insert\", \"update\" and \"upsert\""),
                        ))
                    }
                };
                Editor::MergeMaps(path, source.getter, strategy)
            }
            _ => {
                let path = self.target(target, name, true)?;
                let prefix = match next() {
                    Ok(arg) => Some(self.string_literal(&arg, "the prefix of flatten")?),
                    Err(_) => None,
                };
                let depth = match next() {
                    Ok(arg) => Some(self.int_literal(&arg, "the depth of flatten", 1)?),
                    Err(_) => None,
                };
                Editor::Flatten(path, prefix, depth)
            }
        })
    }

    /// A replacement: a string, or a value that may be one when evaluated.
    fn replacement(&self, arg: Arg) -> Result<Getter, ParseError> {
        if matches!(arg.ty, Ty::Str | Ty::Any) {
            Ok(arg.getter)
        } else {
            Err(self.err(
                arg.start,
                format!("the replacement must be a string, found {}", arg.ty.name()),
            ))
        }
    }

    /// `set(name, 5)`: refuses values whose type can never fit the target.
    fn check_assignable(&self, target: Ty, value: &Arg) -> Result<(), ParseError> {
        let fits = match (target, value.ty) {
            (Ty::Any | Ty::Map, _) | (_, Ty::Any) | (_, Ty::Nil) => true,
            (Ty::Int(a), Ty::Int(b)) => a == b || b == IntKind::Plain || (a == IntKind::Timestamp && !value.literal),
            (Ty::Str, Ty::Str) | (Ty::Float, Ty::Float) | (Ty::Bool, Ty::Bool) => true,
            _ => false,
        };
        if fits {
            return Ok(());
        }
        Err(self.err(
            value.start,
            format!(
                "cannot set a {} field to {} ({})",
                target.name(),
                self.source_of(value.start),
                value.ty.name()
            ),
        ))
    }
}

/// Translates a glob as OTTL's `replace_match` reads it (`*` any run of characters,
/// `?` one character, `[abc]` a class, `{a,b}` alternatives; no path separators) into
/// an anchored regex. Hand-written: `globset` treats globs as paths, and its
/// alternatives and classes differ in detail from what the Collector accepts.
fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^(?s:");
    let mut in_class = false;
    let mut braces = 0usize;
    for c in glob.chars() {
        match c {
            '[' if !in_class => {
                in_class = true;
                out.push('[');
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '!' if in_class && out.ends_with('[') => out.push('^'),
            c if in_class => {
                if c == '\\' || c == '[' {
                    out.push('\\');
                }
                out.push(c);
            }
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '{' => {
                braces += 1;
                out.push_str("(?:");
            }
            '}' if braces > 0 => {
                braces -= 1;
                out.push(')');
            }
            ',' if braces > 0 => out.push('|'),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push_str(")$");
    out
}

/// Whether `key` is one of `keys`.
pub(super) fn listed(keys: &[Box<str>], key: &str) -> bool {
    keys.iter().any(|k| &**k == key)
}
