//! Recursive-descent parser that type-checks while it builds the [`Node`] tree.

use regex::Regex;

use super::eval::{Call, Expr, Key, Lit, Node, Path, TypeTest};
use super::lexer::{error_at, tokenize, CmpOp, Tok, Token};
use super::paths::{canonical_path, suggest, IntKind, Ty, ENUMS, FUNCTIONS, PATHS};
use super::{Context, ParseError};

/// Deepest nesting of parentheses, `not`s and calls; keeps hostile input from overflowing the stack.
const MAX_DEPTH: usize = 64;

/// Parses and type-checks `text` for `context`.
pub(crate) fn parse(text: &str, context: Context) -> Result<Node, ParseError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser::new(text, tokens, context, false);
    parser.condition()
}

/// A parsed value expression with what is statically known about it.
pub(super) struct Operand {
    pub(super) expr: Expr,
    pub(super) ty: Ty,
    /// Byte range in the text.
    pub(super) start: usize,
    pub(super) end: usize,
    /// A literal (including enum literals) rather than a path or call.
    pub(super) literal: bool,
    /// May be nil even though `ty` is not [`Ty::Any`] (`Len` of a non-collection).
    pub(super) nullable: bool,
}

/// The parser of conditions, also driven by the statement parser (`statement.rs`).
pub(super) struct Parser<'s> {
    pub(super) text: &'s str,
    pub(super) tokens: Vec<Token<'s>>,
    pub(super) pos: usize,
    pub(super) context: Context,
    depth: usize,
    /// Paths may carry their context's name (`span.name` in a span statement), as the
    /// Collector's transform processor writes them.
    prefixed: bool,
}

fn is_keyword(tok: &Tok<'_>, word: &str) -> bool {
    matches!(tok, Tok::Ident(w) if *w == word)
}

impl<'s> Parser<'s> {
    pub(super) fn new(text: &'s str, tokens: Vec<Token<'s>>, context: Context, prefixed: bool) -> Self {
        Parser {
            text,
            tokens,
            pos: 0,
            context,
            depth: 0,
            prefixed,
        }
    }

    pub(super) fn peek(&self) -> &Token<'s> {
        &self.tokens[self.pos]
    }

    pub(super) fn bump(&mut self) -> Token<'s> {
        let token = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    pub(super) fn err(&self, offset: usize, message: impl Into<String>) -> ParseError {
        error_at(self.text, offset, message)
    }

    /// How a token is named in "found …" messages.
    pub(super) fn found(&self, token: &Token<'_>) -> String {
        match token.tok {
            Tok::Eof => "the end of the condition".to_string(),
            Tok::Str(_) => "a string".to_string(),
            _ => format!("'{}'", &self.text[token.start..token.end]),
        }
    }

    /// A comma-separated list between the opening `(` or `[` (the next token) and
    /// `close`, each item read by `item`.
    pub(super) fn delimited<T>(
        &mut self,
        close: Tok<'s>,
        mut item: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let open = self.bump();
        self.enter(open.start)?;
        let (opening, closing) = if close == Tok::RBracket { ('[', ']') } else { ('(', ')') };
        let mut items = Vec::new();
        if self.peek().tok == close {
            self.bump();
        } else {
            loop {
                items.push(item(self)?);
                let next = self.bump();
                match next.tok {
                    Tok::Comma => continue,
                    ref t if *t == close => break,
                    Tok::Eof => return Err(self.err(open.start, format!("unclosed '{opening}'"))),
                    _ => {
                        return Err(self.err(
                            next.start,
                            format!("expected ',' or '{closing}', found {}", self.found(&next)),
                        ))
                    }
                }
            }
        }
        self.leave();
        Ok(items)
    }

    pub(super) fn enter(&mut self, offset: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(offset, format!("condition is nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.depth -= 1;
    }

    pub(super) fn condition(&mut self) -> Result<Node, ParseError> {
        if self.peek().tok == Tok::Eof {
            return Err(self.err(0, "empty condition"));
        }
        let node = self.or()?;
        let next = self.peek();
        match next.tok {
            Tok::Eof => Ok(node),
            Tok::RParen => Err(self.err(next.start, "unmatched ')'")),
            _ => Err(self.err(
                next.start,
                format!(
                    "expected 'and', 'or' or the end of the condition, found {}",
                    self.found(next)
                ),
            )),
        }
    }

    pub(super) fn or(&mut self) -> Result<Node, ParseError> {
        let mut items = vec![self.and()?];
        while is_keyword(&self.peek().tok, "or") {
            self.bump();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let mut items = vec![self.unary()?];
        while is_keyword(&self.peek().tok, "and") {
            self.bump();
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::And(items)
        })
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        if is_keyword(&self.peek().tok, "not") {
            let not = self.bump();
            self.enter(not.start)?;
            let inner = self.unary()?;
            self.leave();
            return Ok(Node::Not(Box::new(inner)));
        }
        self.comparison()
    }

    /// A parenthesized condition, a comparison, or a bool-valued expression.
    fn comparison(&mut self) -> Result<Node, ParseError> {
        if self.peek().tok == Tok::LParen {
            let open = self.bump();
            self.enter(open.start)?;
            let inner = self.or()?;
            self.leave();
            let next = self.peek();
            return match next.tok {
                Tok::RParen => {
                    self.bump();
                    Ok(inner)
                }
                Tok::Eof => Err(self.err(open.start, "unclosed '('")),
                _ => Err(self.err(
                    next.start,
                    format!("expected 'and', 'or' or ')', found {}", self.found(next)),
                )),
            };
        }
        let mut left = self.value()?;
        if let Tok::Op(op) = self.peek().tok {
            self.bump();
            let mut right = self.value()?;
            self.check_compare(&mut left, op, &mut right)?;
            let next = self.peek();
            if let Tok::Op(_) = next.tok {
                return Err(self.err(next.start, "comparisons cannot be chained; combine them with and"));
            }
            return Ok(Node::Compare(Box::new((left.expr, op, right.expr))));
        }
        match (left.ty, &left.expr) {
            (Ty::Bool, Expr::Lit(Lit::Bool(b))) => Ok(Node::Const(*b)),
            (Ty::Bool | Ty::Any, _) => Ok(Node::Truthy(left.expr)),
            _ => {
                let next = self.peek();
                let ends = matches!(next.tok, Tok::Eof | Tok::RParen)
                    || is_keyword(&next.tok, "and")
                    || is_keyword(&next.tok, "or");
                if ends {
                    Err(self.err(
                        left.start,
                        format!(
                            "expected a condition, found {}; compare it with ==, !=, <, <=, > or >=",
                            self.describe(&left)
                        ),
                    ))
                } else {
                    Err(self.err(
                        next.start,
                        format!(
                            "expected a comparison operator after {}, found {}",
                            &self.text[left.start..left.end],
                            self.found(next)
                        ),
                    ))
                }
            }
        }
    }

    /// A literal, enum, path or function call.
    pub(super) fn value(&mut self) -> Result<Operand, ParseError> {
        let token = self.bump();
        let (start, end) = (token.start, token.end);
        let lit = |lit: Lit, ty: Ty| {
            Ok(Operand {
                expr: Expr::Lit(lit),
                ty,
                start,
                end,
                literal: true,
                nullable: false,
            })
        };
        match token.tok {
            Tok::Str(s) => lit(Lit::Str(s.into()), Ty::Str),
            Tok::Int(i) => lit(Lit::Int(i), Ty::Int(IntKind::Plain)),
            Tok::Float(f) => lit(Lit::Float(f), Ty::Float),
            Tok::Duration(d) => lit(Lit::Int(d), Ty::Int(IntKind::Duration)),
            Tok::Ident("true") => lit(Lit::Bool(true), Ty::Bool),
            Tok::Ident("false") => lit(Lit::Bool(false), Ty::Bool),
            Tok::Ident("nil") => lit(Lit::Nil, Ty::Nil),
            Tok::Ident(word @ ("and" | "or" | "not")) => {
                Err(self.err(start, format!("expected a value, found '{word}'")))
            }
            Tok::Ident(name) if self.peek().tok == Tok::LParen => self.call(name, start),
            Tok::Ident(name) if is_enum_like(name) => match ENUMS.iter().find(|(n, _, _)| *n == name) {
                Some(&(_, value, kind)) => lit(Lit::Int(value), Ty::Int(kind)),
                None => {
                    let candidates = ENUMS.iter().map(|(n, _, _)| *n).chain(self.path_names());
                    Err(self.err(
                        start,
                        match suggest(name, candidates) {
                            Some(s) => format!("unknown name {name}, did you mean {s}?"),
                            None => format!("unknown name {name}"),
                        },
                    ))
                }
            },
            Tok::Ident(name) => self.path(name, start, end),
            _ => Err(self.err(start, format!("expected a value, found {}", self.found(&token)))),
        }
    }

    /// Paths valid in this context.
    fn path_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        PATHS.iter().filter(|p| p.scope.allows(self.context)).map(|p| p.name)
    }

    fn path(&mut self, first: &str, start: usize, mut end: usize) -> Result<Operand, ParseError> {
        let mut name = first.to_string();
        while self.peek().tok == Tok::Dot {
            self.bump();
            let segment = self.bump();
            match segment.tok {
                Tok::Ident(s) => {
                    name.push('.');
                    name.push_str(s);
                    end = segment.end;
                }
                _ => {
                    return Err(self.err(
                        segment.start,
                        format!("expected a name after '.', found {}", self.found(&segment)),
                    ))
                }
            }
        }
        if self.prefixed {
            if let Some(canonical) = canonical_path(&name, self.context) {
                name = canonical;
            }
        }
        // A name may have one definition per context (`start_time` of spans and of data points).
        let Some(def) = PATHS
            .iter()
            .find(|p| p.name == name && p.scope.allows(self.context))
            .or_else(|| PATHS.iter().find(|p| p.name == name))
        else {
            return Err(self.err(start, self.unknown_path(&name)));
        };
        if !def.scope.allows(self.context) {
            let only = PATHS
                .iter()
                .filter(|p| p.name == name)
                .fold(def.scope, |scope, p| scope.or(p.scope));
            return Err(self.err(
                start,
                format!(
                    "{name} is only available for {}, not in {} conditions",
                    only.describe(),
                    self.context.singular()
                ),
            ));
        }
        let mut ty = def.ty;
        let mut keys = Vec::new();
        while self.peek().tok == Tok::LBracket {
            let open = self.bump();
            if !matches!(ty, Ty::Map | Ty::Any) {
                return Err(self.err(open.start, format!("{name} ({}) cannot be indexed", ty.name())));
            }
            let key = self.bump();
            keys.push(match key.tok {
                Tok::Str(s) => Key::Str(s.into()),
                Tok::Int(_) if ty == Ty::Map => {
                    return Err(self.err(key.start, format!("{name} keys are strings, like {name}[\"key\"]")))
                }
                Tok::Int(i) => Key::Int(i),
                _ => {
                    return Err(self.err(
                        key.start,
                        format!("expected a string key or an int index, found {}", self.found(&key)),
                    ))
                }
            });
            let close = self.bump();
            if close.tok != Tok::RBracket {
                return Err(self.err(close.start, format!("expected ']', found {}", self.found(&close))));
            }
            end = close.end;
            ty = Ty::Any;
        }
        Ok(Operand {
            expr: Expr::Path(Path {
                field: def.field,
                keys: keys.into(),
            }),
            ty,
            start,
            end,
            literal: false,
            nullable: false,
        })
    }

    fn unknown_path(&self, name: &str) -> String {
        // `attributes.http.method` instead of `attributes["http.method"]`.
        for map in PATHS.iter().filter(|p| p.ty == Ty::Map && p.scope.allows(self.context)) {
            if let Some(key) = name.strip_prefix(map.name).and_then(|rest| rest.strip_prefix('.')) {
                return format!("unknown path {name}, did you mean {}[\"{key}\"]?", map.name);
            }
        }
        match suggest(name, self.path_names()) {
            Some(s) => format!("unknown path {name}, did you mean {s}?"),
            None => {
                let known: Vec<&str> = self.path_names().collect();
                format!("unknown path {name}; known paths are {}", known.join(", "))
            }
        }
    }

    fn call(&mut self, name: &str, start: usize) -> Result<Operand, ParseError> {
        if super::statement::CONVERTERS.contains(&name) {
            return Err(self.err(
                start,
                format!("{name} can be used in a statement's arguments, not in conditions"),
            ));
        }
        let args = self.delimited(Tok::RParen, Self::value)?;
        let end = self.tokens[self.pos.saturating_sub(1)].end;

        if !FUNCTIONS.contains(&name) {
            let known = FUNCTIONS.join(", ");
            return Err(self.err(
                start,
                match suggest(name, FUNCTIONS.iter().copied()) {
                    Some(s) => format!("unknown function {name}, did you mean {s}? known functions are {known}"),
                    None => format!("unknown function {name}; known functions are {known}"),
                },
            ));
        }
        let params = match name {
            "IsMatch" => "target, pattern",
            "HasPrefix" => "target, prefix",
            "HasSuffix" => "target, suffix",
            _ => "value",
        };
        let arity = params.split(", ").count();
        if args.len() != arity {
            return Err(self.err(
                start,
                format!(
                    "wrong number of arguments: {name}({params}) takes {arity}, found {}",
                    args.len()
                ),
            ));
        }
        let mut args = args.into_iter();
        let first = args.next().expect("arity checked");
        let second = args.next();

        let (call, ty) = match name {
            "IsMatch" | "HasPrefix" | "HasSuffix" => {
                if !matches!(first.ty, Ty::Str | Ty::Any) {
                    return Err(self.err(
                        first.start,
                        format!("the target of {name} must be a string, found {}", self.describe(&first)),
                    ));
                }
                let second = second.expect("arity checked");
                let what = params.split(", ").nth(1).unwrap_or("pattern");
                let Expr::Lit(Lit::Str(literal)) = second.expr else {
                    return Err(self.err(second.start, format!("the {what} of {name} must be a string literal")));
                };
                let call = match name {
                    "IsMatch" => {
                        let regex = Regex::new(&literal).map_err(|e| {
                            let detail = e.to_string();
                            let detail = detail.lines().last().unwrap_or_default().trim();
                            let detail = detail.strip_prefix("error: ").unwrap_or(detail);
                            self.err(second.start, format!("invalid regex: {}", detail.to_lowercase()))
                        })?;
                        Call::IsMatch(first.expr, regex)
                    }
                    "HasPrefix" => Call::HasPrefix(first.expr, literal),
                    _ => Call::HasSuffix(first.expr, literal),
                };
                (call, Ty::Bool)
            }
            "Len" => {
                if !matches!(first.ty, Ty::Str | Ty::Any | Ty::Map | Ty::Bytes(_)) {
                    return Err(self.err(
                        first.start,
                        format!(
                            "the argument of Len must be a string, list or map, found {}",
                            self.describe(&first)
                        ),
                    ));
                }
                (Call::Len(first.expr), Ty::Int(IntKind::Plain))
            }
            _ => {
                let test = match name {
                    "IsString" => TypeTest::String,
                    "IsInt" => TypeTest::Int,
                    "IsDouble" => TypeTest::Double,
                    "IsBool" => TypeTest::Bool,
                    "IsMap" => TypeTest::Map,
                    _ => TypeTest::List,
                };
                (Call::Is(test, first.expr), Ty::Bool)
            }
        };
        let nullable = matches!(call, Call::Len(_));
        Ok(Operand {
            expr: Expr::Call(Box::new(call)),
            ty,
            start,
            end,
            literal: false,
            nullable,
        })
    }

    /// An operand as named in error messages: `a string`, `duration (int)`.
    pub(super) fn describe(&self, operand: &Operand) -> String {
        let src = &self.text[operand.start..operand.end];
        if !operand.literal {
            return format!("{src} ({})", operand.ty.name());
        }
        match operand.ty {
            Ty::Str => "a string".to_string(),
            Ty::Int(IntKind::Plain) => "an int".to_string(),
            Ty::Int(IntKind::Duration) => "a duration".to_string(),
            Ty::Int(IntKind::SpanKind) => format!("{src} (a span kind)"),
            Ty::Int(IntKind::StatusCode) => format!("{src} (a status code)"),
            Ty::Int(IntKind::Severity) => format!("{src} (a severity number)"),
            Ty::Int(IntKind::MetricType) => format!("{src} (a metric type)"),
            Ty::Int(IntKind::Timestamp) => "a timestamp".to_string(),
            Ty::Float => "a float".to_string(),
            Ty::Bool => "a bool".to_string(),
            Ty::Nil => "nil".to_string(),
            Ty::Bytes(_) => "an id".to_string(),
            Ty::Any | Ty::Map => src.to_string(),
        }
    }

    /// Rejects comparisons that can never be true (or are meaningless), pointing at the
    /// offending operand; turns hex string literals compared with ids into bytes.
    fn check_compare(&self, left: &mut Operand, op: CmpOp, right: &mut Operand) -> Result<(), ParseError> {
        if op.is_ordering() {
            for side in [&*left, &*right] {
                if matches!(side.ty, Ty::Bool | Ty::Nil | Ty::Map | Ty::Bytes(_)) {
                    return Err(self.err(
                        side.start,
                        format!(
                            "cannot use {} with {}, only == and !=",
                            op.as_str(),
                            self.describe(side)
                        ),
                    ));
                }
            }
        }
        self.hex_literal(left, right)?;
        self.hex_literal(right, left)?;
        let compatible = match (left.ty, right.ty) {
            (Ty::Any, _) | (_, Ty::Any) | (Ty::Nil, Ty::Nil) => true,
            (Ty::Nil, _) | (_, Ty::Nil) if left.nullable || right.nullable => true,
            (Ty::Nil, other) | (other, Ty::Nil) => {
                let (nil, typed) = if left.ty == Ty::Nil {
                    (&*left, &*right)
                } else {
                    (&*right, &*left)
                };
                let (kind, hint) = match other {
                    Ty::Str => ("a string", "; test for an empty string with == \"\""),
                    Ty::Bool => ("a bool", ""),
                    Ty::Int(_) => ("an int", ""),
                    Ty::Float => ("a float", ""),
                    Ty::Bytes(_) => ("an id", "; test for an empty id with == \"\""),
                    _ => ("a map", ""),
                };
                return Err(self.err(
                    nil.start,
                    format!(
                        "cannot compare {} with nil, {kind} is never nil{hint}",
                        self.describe(typed)
                    ),
                ));
            }
            (Ty::Int(a), Ty::Int(b)) => a == b || a == IntKind::Plain || b == IntKind::Plain,
            (Ty::Int(_) | Ty::Float, Ty::Int(_) | Ty::Float) => true,
            (Ty::Str, Ty::Str) | (Ty::Bool, Ty::Bool) | (Ty::Map, Ty::Map) | (Ty::Bytes(_), Ty::Bytes(_)) => true,
            _ => false,
        };
        if compatible {
            return Ok(());
        }
        let at = if left.literal && !right.literal {
            left.start
        } else {
            right.start
        };
        let (typed, other) = if left.literal && !right.literal {
            (&*right, &*left)
        } else {
            (&*left, &*right)
        };
        let hint = hint(typed.ty).or_else(|| hint(other.ty)).unwrap_or_default();
        Err(self.err(
            at,
            format!(
                "cannot compare {} with {}{hint}",
                self.describe(left),
                self.describe(right)
            ),
        ))
    }

    /// `trace_id == "4bf9…"`: decodes the hex literal once, at parse time.
    fn hex_literal(&self, id: &Operand, other: &mut Operand) -> Result<(), ParseError> {
        let (Ty::Bytes(len), Expr::Lit(Lit::Str(s))) = (id.ty, &other.expr) else {
            return Ok(());
        };
        match hex::decode(&**s) {
            Ok(bytes) if bytes.is_empty() || bytes.len() == len => {
                other.expr = Expr::Lit(Lit::Bytes(bytes.into()));
                other.ty = id.ty;
                Ok(())
            }
            _ => Err(self.err(
                other.start,
                format!(
                    "{} is compared with a hex string of {} characters, or \"\" for none",
                    &self.text[id.start..id.end],
                    len * 2
                ),
            )),
        }
    }
}

/// What the values of a type look like, for type-mismatch messages.
fn hint(ty: Ty) -> Option<&'static str> {
    Some(match ty {
        Ty::Int(IntKind::Duration) => "; durations are nanoseconds or literals like 300ms, 1.5s or 2m",
        Ty::Int(IntKind::Timestamp) => "; timestamps are ints in unix nanoseconds",
        Ty::Int(IntKind::SpanKind) => {
            "; span kinds are SPAN_KIND_UNSPECIFIED, SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, \
             SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER and SPAN_KIND_CONSUMER"
        }
        Ty::Int(IntKind::StatusCode) => "; status codes are STATUS_CODE_UNSET, STATUS_CODE_OK and STATUS_CODE_ERROR",
        Ty::Int(IntKind::Severity) => {
            "; severity numbers are 1 to 24, or SEVERITY_NUMBER_TRACE to SEVERITY_NUMBER_FATAL4"
        }
        Ty::Int(IntKind::MetricType) => {
            "; metric types are METRIC_DATA_TYPE_NONE, METRIC_DATA_TYPE_GAUGE, METRIC_DATA_TYPE_SUM, \
             METRIC_DATA_TYPE_HISTOGRAM, METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM and METRIC_DATA_TYPE_SUMMARY"
        }
        Ty::Bytes(_) => "; ids are compared with hex string literals",
        _ => return None,
    })
}

/// `SPAN_KIND_SERVER`-style names.
fn is_enum_like(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}
