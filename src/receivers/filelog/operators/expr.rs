//! Stanza's expression language: the `if:` of every operator, `filter`'s `expr`,
//! `router`'s `routes[].expr` and `add`'s `value: EXPR(...)`.
//!
//! The Collector evaluates these with [expr-lang](https://expr-lang.org) against
//! an environment of `body`, `attributes`, `resource`, `timestamp` and an `env()`
//! function (`pkg/stanza/docs/types/expression.md`). This module implements the
//! part of that language log configs use:
//!
//! ```yaml
//! operators:
//!   - type: filter              # drops the entries the expression is true for
//!     expr: 'body.path startsWith "/health"'
//!   - type: add
//!     if: 'attributes["http.response.status_code"] in 500..599'
//!     field: attributes.route
//!     value: EXPR(body.method + " " + body.path)
//! ```
//!
//! with expr-lang's precedence:
//!
//! | precedence | operators |
//! |---|---|
//! | lowest | `cond ? a : b` |
//! | 10 | `or`, `\|\|` |
//! | 15 | `and`, `&&` |
//! | 20 | `==` `!=` `<` `<=` `>` `>=` `in` `matches` `contains` `startsWith` `endsWith` (each may be written `not in`, `not matches`, ...); `a < b < c` means `a < b and b < c` |
//! | 25 | `..` (an integer range, for `status in 500..599`) |
//! | 30 | `+` `-` |
//! | 50 | unary `not`, `!` (so `not a == b` is `(not a) == b`, as in expr-lang) |
//! | 60 | `*` `/` `%` |
//! | 90 | unary `-`, `+` |
//! | 100 | `**`, `^` (right-associative) |
//! | 500 | `??` (cannot be mixed with other operators without parentheses) |
//!
//! and member access `body.a.b`, `attributes["http.method"]`, `body.list[0]`
//! (`?.` is accepted and means the same: every access is already nil-safe),
//! literals (`"..."`, `'...'` with escapes, `` `raw` ``, integers with `_`, `0x`
//! hex, floats, `true`, `false`, `nil`, arrays `[1, 2]`), and the functions
//! `env`, `len`, `lower`, `upper`, `trim`, `int`, `float` and `string`.
//!
//! Where expr-lang would stop with a runtime error (a type mismatch, a missing
//! key, division by zero, an overflow) evaluation yields nil instead, and a
//! comparison involving nil is false except `== nil` and `!= nil`: an entry that
//! lacks a field fails an `if:` rather than the pipeline. In a boolean context
//! (`and`, `or`, `not`, `?:`) only `true` counts as true.
//!
//! Unlike the Collector, which lets undefined variables read as nil, an unknown
//! variable or function is a configuration error: `atributes.x == 1` is a typo,
//! not a condition that is never true.
//!
//! Variables: `body`, `attributes`, `resource` (also `$body`, `$attributes`,
//! `$resource` and `$` for the body, the older stanza spellings) and `timestamp`,
//! the record's `time_unix_nano` as an integer (nil when unset; the Collector
//! exposes a Go `time.Time`, which has no counterpart here).
//!
//! A regular expression on the right of `matches` is compiled once, when the
//! expression is parsed, when it is a string literal.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};
use regex::Regex;

use super::field::{Field, Root};
use crate::receivers::filelog::entry::Entry;

/// The most tokens one expression may have: conditions in configs have tens.
/// With [`MAX_DEPTH`] it bounds the recursion of parsing and evaluation.
const MAX_TOKENS: usize = 4096;

/// The deepest an expression's tree may be (nested parentheses, operands of
/// operands): deep enough for any condition a person writes, shallow enough
/// that evaluating it cannot exhaust a thread's stack.
const MAX_DEPTH: usize = 100;

/// The most elements a range `a..b` becomes outside of `in` (where it is not
/// materialised at all).
const MAX_RANGE: i64 = 100_000;

/// A parsed expression, ready to be evaluated against entries.
#[derive(Debug, Clone)]
pub struct Expr {
    source: String,
    root: Node,
}

impl Expr {
    /// Parses `text`. The error names the column (1-based, in characters) where
    /// the expression went wrong and what was expected there.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let tokens = lex(text).map_err(|error| error.describe(text))?;
        if tokens.len() > MAX_TOKENS {
            return Err(format!(
                "expression {text:?} is too long ({} tokens; at most {MAX_TOKENS})",
                tokens.len()
            ));
        }
        let mut parser = Parser {
            tokens,
            position: 0,
            nesting: 0,
        };
        let root = parser.parse_all().map_err(|error| error.describe(text))?;
        if root.depth() > MAX_DEPTH {
            return Err(format!(
                "expression {text:?} is nested too deeply (more than {MAX_DEPTH} levels)"
            ));
        }
        Ok(Expr {
            source: text.to_string(),
            root,
        })
    }

    /// Whether the expression is true for `entry`: its value is the boolean
    /// `true` (anything else, nil included, is not).
    pub fn matches(&self, entry: &Entry) -> bool {
        matches!(self.root.eval(entry), Value::Bool(true))
    }

    /// The expression's value for `entry`, `None` when it is nil.
    pub fn eval(&self, entry: &Entry) -> Option<AnyValue> {
        self.root.eval(entry).into_any()
    }

    /// The text the expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Two expressions are equal when they were parsed from the same text (for
/// configs that derive `PartialEq`).
impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Expr {}

/// The expression inside `EXPR(...)`, the spelling stanza's `add` and
/// `metadata` use for a value computed per entry (`value: EXPR(env("STACK"))`);
/// `None` for a plain value. As in the Collector, the value must start with
/// `EXPR(` and end with `)`, nothing around them.
pub fn embedded(value: &str) -> Option<&str> {
    value.strip_prefix("EXPR(")?.strip_suffix(')')
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Expr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Expr::parse(text)
    }
}

impl<'de> serde::Deserialize<'de> for Expr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Expr::parse(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Tokens

/// A syntax error: where (1-based character column) and what.
#[derive(Debug)]
struct SyntaxError {
    column: usize,
    message: String,
}

impl SyntaxError {
    fn describe(self, source: &str) -> String {
        format!("expression {source:?}, column {}: {}", self.column, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A name: a variable, function, key after `.`, or a word operator
    /// (`and`, `in`, `matches`, ...).
    Ident(String),
    Int(i64),
    Float(f64),
    Str(String),
    /// Punctuation and symbolic operators.
    Op(&'static str),
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(name) => write!(f, "{name:?}"),
            Token::Int(value) => write!(f, "{value}"),
            Token::Float(value) => write!(f, "{value}"),
            Token::Str(text) => write!(f, "string {text:?}"),
            Token::Op(op) => write!(f, "{op:?}"),
            Token::End => f.write_str("the end of the expression"),
        }
    }
}

#[derive(Debug, Clone)]
struct Lexed {
    token: Token,
    column: usize,
}

/// Symbolic operators, longest first so that `==` is not read as `=` `=`.
const SYMBOLS: [&str; 26] = [
    "==", "!=", "<=", ">=", "&&", "||", "**", "..", "??", "?.", "<", ">", "!", "+", "-", "*", "/", "%", "^", "?", ":",
    "(", ")", "[", "]", ",",
];

fn lex(text: &str) -> Result<Vec<Lexed>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while let Some(&c) = chars.get(at) {
        let column = at + 1;
        if c.is_whitespace() {
            at += 1;
            continue;
        }
        let (token, next) = if c.is_ascii_digit() {
            lex_number(&chars, at)?
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let end = scan(&chars, at, |c| c.is_alphanumeric() || c == '_' || c == '$');
            (Token::Ident(chars[at..end].iter().collect()), end)
        } else if c == '"' || c == '\'' {
            lex_quoted(&chars, at)?
        } else if c == '`' {
            let Some(close) = chars.iter().skip(at + 1).position(|&c| c == '`') else {
                return Err(SyntaxError {
                    column,
                    message: "unterminated raw string (no closing `)".into(),
                });
            };
            let end = at + 1 + close;
            (Token::Str(chars[at + 1..end].iter().collect()), end + 1)
        } else if c == '.' && chars.get(at + 1) != Some(&'.') {
            (Token::Op("."), at + 1)
        } else {
            let rest = &chars[at..];
            let symbol = SYMBOLS
                .iter()
                .find(|symbol| symbol.chars().count() <= rest.len() && symbol.chars().zip(rest).all(|(a, &b)| a == b));
            match symbol {
                Some(symbol) => (Token::Op(symbol), at + symbol.chars().count()),
                None => {
                    let hint = match c {
                        '=' => " (comparison is ==)",
                        '&' => " (logical and is && or and)",
                        '|' => " (logical or is || or or; pipes are not supported)",
                        _ => "",
                    };
                    return Err(SyntaxError {
                        column,
                        message: format!("unexpected character {c:?}{hint}"),
                    });
                }
            }
        };
        tokens.push(Lexed { token, column });
        at = next;
    }
    tokens.push(Lexed {
        token: Token::End,
        column: chars.len() + 1,
    });
    Ok(tokens)
}

/// The index after the run of characters from `start` that satisfy `accept`.
fn scan(chars: &[char], start: usize, accept: impl Fn(char) -> bool) -> usize {
    start + chars.iter().skip(start).take_while(|&&c| accept(c)).count()
}

/// An integer (decimal or `0x` hex, `_` separators allowed) or a float
/// (`1.5`, `1e3`, `2.5e-3`). `1..5` is the integer 1 and a range.
fn lex_number(chars: &[char], start: usize) -> Result<(Token, usize), SyntaxError> {
    let column = start + 1;
    let too_large = |what: &str| SyntaxError {
        column,
        message: format!("{what} literal is out of range"),
    };
    let is_hex = chars.get(start) == Some(&'0') && matches!(chars.get(start + 1), Some('x' | 'X'));
    if is_hex {
        let end = scan(chars, start + 2, |c| c.is_ascii_hexdigit() || c == '_');
        let digits: String = chars[start + 2..end].iter().filter(|&&c| c != '_').collect();
        let value = i64::from_str_radix(&digits, 16).map_err(|_| too_large("hex"))?;
        return Ok((Token::Int(value), end));
    }
    let mut end = scan(chars, start, |c| c.is_ascii_digit() || c == '_');
    let mut is_float = false;
    if chars.get(end) == Some(&'.') && chars.get(end + 1).is_some_and(char::is_ascii_digit) {
        end = scan(chars, end + 1, |c| c.is_ascii_digit() || c == '_');
        is_float = true;
    }
    if matches!(chars.get(end), Some('e' | 'E')) {
        let mut digits_at = end + 1;
        if matches!(chars.get(digits_at), Some('+' | '-')) {
            digits_at += 1;
        }
        if chars.get(digits_at).is_some_and(char::is_ascii_digit) {
            end = scan(chars, digits_at, |c| c.is_ascii_digit());
            is_float = true;
        }
    }
    let text: String = chars[start..end].iter().filter(|&&c| c != '_').collect();
    let token = if is_float {
        let value: f64 = text.parse().map_err(|_| too_large("float"))?;
        if !value.is_finite() {
            return Err(too_large("float"));
        }
        Token::Float(value)
    } else {
        Token::Int(text.parse().map_err(|_| too_large("integer"))?)
    };
    Ok((token, end))
}

/// A `"..."` or `'...'` string with backslash escapes: `\n \t \r \a \b \f \v
/// \0 \\ \" \' \``, `\xHH`, `\uHHHH`, `\UHHHHHHHH`.
fn lex_quoted(chars: &[char], start: usize) -> Result<(Token, usize), SyntaxError> {
    let quote = chars.get(start).copied().unwrap_or('"');
    let mut text = String::new();
    let mut at = start + 1;
    loop {
        let Some(&c) = chars.get(at) else {
            return Err(SyntaxError {
                column: start + 1,
                message: format!("unterminated string (no closing {quote})"),
            });
        };
        if c == quote {
            return Ok((Token::Str(text), at + 1));
        }
        if c != '\\' {
            text.push(c);
            at += 1;
            continue;
        }
        let escape_column = at + 1;
        let bad = |message: String| SyntaxError {
            column: escape_column,
            message,
        };
        let Some(&kind) = chars.get(at + 1) else {
            return Err(bad("a backslash ends the expression".into()));
        };
        let simple = match kind {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'v' => Some('\u{b}'),
            '0' => Some('\0'),
            '\\' | '"' | '\'' | '`' => Some(kind),
            _ => None,
        };
        if let Some(unescaped) = simple {
            text.push(unescaped);
            at += 2;
            continue;
        }
        let width = match kind {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => return Err(bad(format!("unknown escape \\{kind}"))),
        };
        let digits: String = chars.iter().skip(at + 2).take(width).collect();
        let code = (digits.chars().count() == width && digits.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(&digits, 16).ok())
            .flatten()
            .ok_or_else(|| bad(format!("\\{kind} needs {width} hex digits")))?;
        let unescaped = char::from_u32(code).ok_or_else(|| bad(format!("\\{kind}{digits} is not a character")))?;
        text.push(unescaped);
        at += 2 + width;
    }
}

// ---------------------------------------------------------------------------
// Syntax tree

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnaryOp {
    Not,
    Negate,
    Plus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinaryOp {
    Or,
    And,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    In,
    Matches,
    Contains,
    StartsWith,
    EndsWith,
    Range,
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
    Power,
    Coalesce,
}

impl BinaryOp {
    /// The operator a token is, with its precedence and whether it is
    /// right-associative (expr-lang's `parser/operator` table).
    fn of(token: &Token) -> Option<(BinaryOp, u16, bool)> {
        let name = match token {
            Token::Op(op) => *op,
            Token::Ident(name) => name.as_str(),
            _ => return None,
        };
        let (op, precedence) = match name {
            "or" | "||" => (BinaryOp::Or, 10),
            "and" | "&&" => (BinaryOp::And, 15),
            "==" => (BinaryOp::Equal, 20),
            "!=" => (BinaryOp::NotEqual, 20),
            "<" => (BinaryOp::Less, 20),
            "<=" => (BinaryOp::LessOrEqual, 20),
            ">" => (BinaryOp::Greater, 20),
            ">=" => (BinaryOp::GreaterOrEqual, 20),
            "in" => (BinaryOp::In, 20),
            "matches" => (BinaryOp::Matches, 20),
            "contains" => (BinaryOp::Contains, 20),
            "startsWith" => (BinaryOp::StartsWith, 20),
            "endsWith" => (BinaryOp::EndsWith, 20),
            ".." => (BinaryOp::Range, 25),
            "+" => (BinaryOp::Add, 30),
            "-" => (BinaryOp::Subtract, 30),
            "*" => (BinaryOp::Multiply, 60),
            "/" => (BinaryOp::Divide, 60),
            "%" => (BinaryOp::Modulo, 60),
            "**" | "^" => (BinaryOp::Power, 100),
            "??" => (BinaryOp::Coalesce, 500),
            _ => return None,
        };
        Some((op, precedence, op == BinaryOp::Power))
    }

    fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Equal
                | BinaryOp::NotEqual
                | BinaryOp::Less
                | BinaryOp::LessOrEqual
                | BinaryOp::Greater
                | BinaryOp::GreaterOrEqual
                | BinaryOp::In
                | BinaryOp::Matches
                | BinaryOp::Contains
                | BinaryOp::StartsWith
                | BinaryOp::EndsWith
        )
    }

    /// Whether `not` may precede it (`not in`, `not matches`, ...).
    fn negatable(self) -> bool {
        matches!(
            self,
            BinaryOp::In | BinaryOp::Matches | BinaryOp::Contains | BinaryOp::StartsWith | BinaryOp::EndsWith
        )
    }
}

/// The functions an expression may call, with how many arguments each takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    /// `env("NAME")`: the environment variable, `""` when unset (as Go's
    /// `os.Getenv`).
    Env,
    /// `len(x)`: characters of a string, elements of an array or map.
    Len,
    Lower,
    Upper,
    /// `trim(s)`: without leading and trailing whitespace.
    Trim,
    /// `int(x)`: a number truncated, or a string parsed as an integer.
    Int,
    /// `float(x)`: a number, or a string parsed as one.
    Float,
    /// `string(x)`: a string, number or boolean as text.
    String,
}

impl Function {
    fn named(name: &str) -> Option<Function> {
        Some(match name {
            "env" => Function::Env,
            "len" => Function::Len,
            "lower" => Function::Lower,
            "upper" => Function::Upper,
            "trim" => Function::Trim,
            "int" => Function::Int,
            "float" => Function::Float,
            "string" => Function::String,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
enum Node {
    Literal(Value<'static>),
    Array(Vec<Node>),
    /// `body...`, `attributes...`, `resource...` with the keys known when parsed.
    Path(Field),
    Timestamp,
    /// `object[key]` or `object.key` where the object is not a path.
    Index {
        object: Box<Node>,
        key: Box<Node>,
    },
    Call {
        function: Function,
        argument: Box<Node>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Node>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Node>,
        right: Box<Node>,
    },
    /// `subject matches "literal"`, compiled once.
    MatchesRegex {
        subject: Box<Node>,
        regex: Regex,
    },
    Conditional {
        condition: Box<Node>,
        then: Box<Node>,
        otherwise: Box<Node>,
    },
}

impl Node {
    fn depth(&self) -> usize {
        1 + match self {
            Node::Literal(_) | Node::Path(_) | Node::Timestamp => 0,
            Node::Array(items) => items.iter().map(Node::depth).max().unwrap_or(0),
            Node::Index { object, key } => object.depth().max(key.depth()),
            Node::Call { argument, .. } => argument.depth(),
            Node::Unary { operand, .. } => operand.depth(),
            Node::Binary { left, right, .. } => left.depth().max(right.depth()),
            Node::MatchesRegex { subject, .. } => subject.depth(),
            Node::Conditional {
                condition,
                then,
                otherwise,
            } => condition.depth().max(then.depth()).max(otherwise.depth()),
        }
    }

    fn unary(op: UnaryOp, operand: Node) -> Node {
        Node::Unary {
            op,
            operand: Box::new(operand),
        }
    }

    fn binary(op: BinaryOp, left: Node, right: Node) -> Node {
        Node::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }
}

// ---------------------------------------------------------------------------
// Parser

struct Parser {
    tokens: Vec<Lexed>,
    position: usize,
    /// How deep the recursive descent is, bounded by [`MAX_DEPTH`].
    nesting: usize,
}

/// A binary operator about to be applied, as [`Parser::next_operator`] read it.
struct NextOperator {
    op: BinaryOp,
    precedence: u16,
    right_associative: bool,
    /// Written `not in`, `not matches`, ...: the result is negated.
    negated: bool,
    /// The operator's token (after the `not`), for errors.
    token: Lexed,
}

impl Parser {
    fn parse_all(&mut self) -> Result<Node, SyntaxError> {
        let node = self.expression(0)?;
        let rest = self.peek();
        if rest.token != Token::End {
            return Err(self.error_here(format!("unexpected {} after a complete expression", rest.token)));
        }
        Ok(node)
    }

    fn peek(&self) -> &Lexed {
        self.peek_at(0)
    }

    /// The token `ahead` places on; past the end, the End token.
    fn peek_at(&self, ahead: usize) -> &Lexed {
        static END: Lexed = Lexed {
            token: Token::End,
            column: 0,
        };
        self.tokens
            .get(self.position + ahead)
            .or(self.tokens.last())
            .unwrap_or(&END)
    }

    fn advance(&mut self) -> Lexed {
        let current = self.peek().clone();
        if current.token != Token::End {
            self.position += 1;
        }
        current
    }

    fn error_here(&self, message: String) -> SyntaxError {
        SyntaxError {
            column: self.peek().column,
            message,
        }
    }

    fn expect(&mut self, op: &'static str, context: &str) -> Result<(), SyntaxError> {
        if self.peek().token == Token::Op(op) {
            self.advance();
            Ok(())
        } else {
            Err(self.error_here(format!("expected {op:?} {context}, found {}", self.peek().token)))
        }
    }

    /// An expression whose binary operators all bind at least as tightly as
    /// `min_precedence` (precedence climbing, as expr-lang's parser).
    fn expression(&mut self, min_precedence: u16) -> Result<Node, SyntaxError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(self.error_here(format!(
                "expression is nested too deeply (more than {MAX_DEPTH} levels)"
            )));
        }
        let node = self.binary_operations(min_precedence)?;
        let node = if min_precedence == 0 {
            self.conditional(node)?
        } else {
            node
        };
        self.nesting -= 1;
        Ok(node)
    }

    /// An operand and the binary operators that follow it, as long as they bind
    /// at least as tightly as `min_precedence`.
    fn binary_operations(&mut self, min_precedence: u16) -> Result<Node, SyntaxError> {
        let mut left = self.unary()?;
        let mut previous: Option<BinaryOp> = None;
        // The right operand of the comparison just parsed, for `a < b < c`.
        let mut last_comparand: Option<Node> = None;
        while let Some(next) = self.next_operator(min_precedence)? {
            let op = next.op;
            if previous == Some(BinaryOp::Coalesce) && op != BinaryOp::Coalesce {
                let token = &next.token.token;
                return Err(SyntaxError {
                    column: next.token.column,
                    message: format!("?? and {token} cannot be mixed without parentheses: write (a ?? b) {token} c"),
                });
            }
            if next.negated {
                self.advance();
            }
            self.advance();
            let right_column = self.peek().column;
            let right = self.expression(if next.right_associative {
                next.precedence
            } else {
                next.precedence + 1
            })?;
            // `a < b < c` is `a < b and b < c`: the new link compares the
            // previous comparison's right operand.
            let chained = if op.is_comparison() && previous.is_some_and(BinaryOp::is_comparison) {
                last_comparand.take()
            } else {
                None
            };
            let next_comparand = op.is_comparison().then(|| right.clone());
            let negate = |node: Node| {
                if next.negated {
                    Node::unary(UnaryOp::Not, node)
                } else {
                    node
                }
            };
            left = match chained {
                Some(comparand) => {
                    let link = negate(self.operation(op, comparand, right, right_column)?);
                    Node::binary(BinaryOp::And, left, link)
                }
                None => negate(self.operation(op, left, right, right_column)?),
            };
            last_comparand = next_comparand;
            previous = Some(op);
        }
        Ok(left)
    }

    /// The binary operator at the current token (after a `not` for `not in`
    /// and the like) if it binds at least as tightly as `min_precedence`;
    /// `None` when the operand is complete. Consumes nothing.
    fn next_operator(&self, min_precedence: u16) -> Result<Option<NextOperator>, SyntaxError> {
        let negated = matches!(&self.peek().token, Token::Ident(word) if word == "not");
        let token = if negated { self.peek_at(1) } else { self.peek() }.clone();
        let Some((op, precedence, right_associative)) = BinaryOp::of(&token.token) else {
            if negated {
                return Err(SyntaxError {
                    column: token.column,
                    message: format!(
                        "expected in, matches, contains, startsWith or endsWith after \"not\", found {}",
                        token.token
                    ),
                });
            }
            return Ok(None);
        };
        if negated && !op.negatable() {
            return Err(SyntaxError {
                column: token.column,
                message: format!("\"not\" cannot precede {}", token.token),
            });
        }
        Ok((precedence >= min_precedence).then_some(NextOperator {
            op,
            precedence,
            right_associative,
            negated,
            token,
        }))
    }

    /// The node for `left op right`; `matches` with a literal pattern compiles it.
    fn operation(&self, op: BinaryOp, left: Node, right: Node, right_column: usize) -> Result<Node, SyntaxError> {
        if op == BinaryOp::Matches {
            if let Node::Literal(Value::Str(pattern)) = &right {
                let regex = Regex::new(pattern).map_err(|error| SyntaxError {
                    column: right_column,
                    message: format!("invalid regular expression: {error}"),
                })?;
                return Ok(Node::MatchesRegex {
                    subject: Box::new(left),
                    regex,
                });
            }
        }
        Ok(Node::binary(op, left, right))
    }

    /// `condition ? then : otherwise` after a complete operand (right-nested,
    /// so `a ? b : c ? d : e` is `a ? b : (c ? d : e)`).
    fn conditional(&mut self, condition: Node) -> Result<Node, SyntaxError> {
        if self.peek().token != Token::Op("?") {
            return Ok(condition);
        }
        self.advance();
        let then = self.expression(0)?;
        self.expect(":", "between the branches of ?:")?;
        let otherwise = self.expression(0)?;
        Ok(Node::Conditional {
            condition: Box::new(condition),
            then: Box::new(then),
            otherwise: Box::new(otherwise),
        })
    }

    /// A unary operator and its operand, or a primary expression.
    fn unary(&mut self) -> Result<Node, SyntaxError> {
        let (op, precedence) = match &self.peek().token {
            Token::Op("!") => (UnaryOp::Not, 50),
            Token::Ident(name) if name == "not" => (UnaryOp::Not, 50),
            Token::Op("-") => (UnaryOp::Negate, 90),
            Token::Op("+") => (UnaryOp::Plus, 90),
            _ => return self.primary(),
        };
        self.advance();
        let operand = self.expression(precedence)?;
        self.postfix(Node::unary(op, operand))
    }

    fn primary(&mut self) -> Result<Node, SyntaxError> {
        let Lexed { token, column } = self.advance();
        let node = match token {
            Token::Int(value) => Node::Literal(Value::Int(value)),
            Token::Float(value) => Node::Literal(Value::Float(value)),
            Token::Str(text) => Node::Literal(Value::Str(Cow::Owned(text))),
            Token::Op("(") => {
                let inner = self.expression(0)?;
                self.expect(")", &format!("to close the ( at column {column}"))?;
                inner
            }
            Token::Op("[") => Node::Array(self.array(column)?),
            Token::Ident(name) => match name.as_str() {
                "true" => return Ok(Node::Literal(Value::Bool(true))),
                "false" => return Ok(Node::Literal(Value::Bool(false))),
                "nil" => return Ok(Node::Literal(Value::Nil)),
                _ if BinaryOp::of(&Token::Ident(name.clone())).is_some() => {
                    return Err(SyntaxError {
                        column,
                        message: format!("expected a value, found the operator {name:?}"),
                    })
                }
                _ if self.peek().token == Token::Op("(") => self.call(&name, column)?,
                _ => variable(&name).ok_or_else(|| SyntaxError {
                    column,
                    message: format!(
                        "unknown variable {name:?} (the variables are body, attributes, resource and timestamp)"
                    ),
                })?,
            },
            Token::End => {
                return Err(SyntaxError {
                    column,
                    message: "expected a value, found the end of the expression".into(),
                })
            }
            other => {
                return Err(SyntaxError {
                    column,
                    message: format!("expected a value, found {other}"),
                })
            }
        };
        self.postfix(node)
    }

    /// The elements of `[a, b, ...]` after its `[`.
    fn array(&mut self, open_column: usize) -> Result<Vec<Node>, SyntaxError> {
        let mut items = Vec::new();
        loop {
            if self.peek().token == Token::Op("]") {
                self.advance();
                return Ok(items);
            }
            items.push(self.expression(0)?);
            match self.advance() {
                Lexed {
                    token: Token::Op(","), ..
                } => {}
                Lexed {
                    token: Token::Op("]"), ..
                } => return Ok(items),
                Lexed { token, column } => {
                    return Err(SyntaxError {
                        column,
                        message: format!(
                            "expected \",\" or \"]\" in the array opened at column {open_column}, found {token}"
                        ),
                    })
                }
            }
        }
    }

    /// `name(argument)` with the name already read.
    fn call(&mut self, name: &str, column: usize) -> Result<Node, SyntaxError> {
        let function = Function::named(name).ok_or_else(|| SyntaxError {
            column,
            message: format!(
                "unknown function {name:?} (the functions are env, len, lower, upper, trim, int, float and string)"
            ),
        })?;
        self.expect("(", "")?;
        if self.peek().token == Token::Op(")") {
            return Err(self.error_here(format!("{name}() takes one argument")));
        }
        let argument = self.expression(0)?;
        if self.peek().token == Token::Op(",") {
            return Err(self.error_here(format!("{name}() takes one argument")));
        }
        self.expect(")", &format!("to close the call of {name}"))?;
        Ok(Node::Call {
            function,
            argument: Box::new(argument),
        })
    }

    /// Member access after an operand: `.key`, `?.key`, `[expression]`.
    fn postfix(&mut self, mut node: Node) -> Result<Node, SyntaxError> {
        loop {
            let key = match self.peek().token {
                Token::Op(".") | Token::Op("?.") => {
                    self.advance();
                    let Lexed { token, column } = self.advance();
                    let Token::Ident(name) = token else {
                        return Err(SyntaxError {
                            column,
                            message: format!("expected a name after \".\", found {token}"),
                        });
                    };
                    if self.peek().token == Token::Op("(") {
                        return Err(self.error_here(format!("methods are not supported ({name}(...))")));
                    }
                    Node::Literal(Value::Str(Cow::Owned(name)))
                }
                Token::Op("[") => {
                    let open = self.advance().column;
                    if self.peek().token == Token::Op(":") {
                        return Err(self.error_here("slices are not supported".into()));
                    }
                    let key = self.expression(0)?;
                    if self.peek().token == Token::Op(":") {
                        return Err(self.error_here("slices are not supported".into()));
                    }
                    self.expect("]", &format!("to close the [ at column {open}"))?;
                    key
                }
                _ => return Ok(node),
            };
            node = match (node, key) {
                (Node::Path(mut field), Node::Literal(Value::Str(name))) => {
                    field.keys.push(name.into_owned());
                    Node::Path(field)
                }
                (object, key) => Node::Index {
                    object: Box::new(object),
                    key: Box::new(key),
                },
            };
        }
    }
}

/// The node a variable name stands for.
fn variable(name: &str) -> Option<Node> {
    let root = match name {
        "body" | "$body" | "$" => Root::Body,
        "attributes" | "$attributes" => Root::Attributes,
        "resource" | "$resource" => Root::Resource,
        "timestamp" | "$timestamp" => return Some(Node::Timestamp),
        _ => return None,
    };
    Some(Node::Path(Field { root, keys: Vec::new() }))
}

// ---------------------------------------------------------------------------
// Values and evaluation

/// A value during evaluation, borrowing from the entry where it can.
#[derive(Debug, Clone)]
enum Value<'e> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'e, str>),
    Bytes(Cow<'e, [u8]>),
    Array(Vec<Value<'e>>),
    Map(Cow<'e, [KeyValue]>),
}

impl<'e> Value<'e> {
    fn from_any(value: &'e AnyValue) -> Value<'e> {
        match &value.value {
            None => Value::Nil,
            Some(any_value::Value::StringValue(text)) => Value::Str(Cow::Borrowed(text)),
            Some(any_value::Value::BoolValue(flag)) => Value::Bool(*flag),
            Some(any_value::Value::IntValue(number)) => Value::Int(*number),
            Some(any_value::Value::DoubleValue(number)) => Value::Float(*number),
            Some(any_value::Value::BytesValue(bytes)) => Value::Bytes(Cow::Borrowed(bytes)),
            Some(any_value::Value::ArrayValue(array)) => {
                Value::Array(array.values.iter().map(Value::from_any).collect())
            }
            Some(any_value::Value::KvlistValue(list)) => Value::Map(Cow::Borrowed(&list.values)),
            // An index into a profiles dictionary, which log records do not have.
            Some(any_value::Value::StringValueStrindex(_)) => Value::Nil,
        }
    }

    fn from_owned(value: AnyValue) -> Value<'e> {
        match value.value {
            None => Value::Nil,
            Some(any_value::Value::StringValue(text)) => Value::Str(Cow::Owned(text)),
            Some(any_value::Value::BoolValue(flag)) => Value::Bool(flag),
            Some(any_value::Value::IntValue(number)) => Value::Int(number),
            Some(any_value::Value::DoubleValue(number)) => Value::Float(number),
            Some(any_value::Value::BytesValue(bytes)) => Value::Bytes(Cow::Owned(bytes)),
            Some(any_value::Value::ArrayValue(array)) => {
                Value::Array(array.values.into_iter().map(Value::from_owned).collect())
            }
            Some(any_value::Value::KvlistValue(list)) => Value::Map(Cow::Owned(list.values)),
            Some(any_value::Value::StringValueStrindex(_)) => Value::Nil,
        }
    }

    fn from_cow(value: Cow<'e, AnyValue>) -> Value<'e> {
        match value {
            Cow::Borrowed(value) => Value::from_any(value),
            Cow::Owned(value) => Value::from_owned(value),
        }
    }

    /// The `AnyValue` for this value; `None` for nil.
    fn into_any(self) -> Option<AnyValue> {
        let value = match self {
            Value::Nil => return None,
            Value::Bool(flag) => any_value::Value::BoolValue(flag),
            Value::Int(number) => any_value::Value::IntValue(number),
            Value::Float(number) => any_value::Value::DoubleValue(number),
            Value::Str(text) => any_value::Value::StringValue(text.into_owned()),
            Value::Bytes(bytes) => any_value::Value::BytesValue(bytes.into_owned()),
            Value::Array(items) => any_value::Value::ArrayValue(ArrayValue {
                values: items
                    .into_iter()
                    .map(|item| item.into_any().unwrap_or_default())
                    .collect(),
            }),
            Value::Map(entries) => any_value::Value::KvlistValue(KeyValueList {
                values: entries.into_owned(),
            }),
        };
        Some(AnyValue { value: Some(value) })
    }

    fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(number) => Some(*number as f64),
            Value::Float(number) => Some(*number),
            _ => None,
        }
    }
}

fn optional_value(value: &Option<AnyValue>) -> Value<'_> {
    value.as_ref().map_or(Value::Nil, Value::from_any)
}

/// expr-lang's `==`: numbers by value across int and float, strings, booleans,
/// bytes, and arrays and maps element by element; nil equals only nil.
fn equal(left: &Value<'_>, right: &Value<'_>) -> bool {
    match (left, right) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Int(a), Value::Int(b)) => a == b,
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => left.as_f64() == right.as_f64(),
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::Bytes(a), Value::Bytes(b)) => a == b,
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equal(x, y)),
        (Value::Map(a), Value::Map(b)) => {
            a.len() == b.len()
                && a.iter().all(|entry| {
                    b.iter()
                        .find(|other| other.key == entry.key)
                        .is_some_and(|other| equal(&optional_value(&entry.value), &optional_value(&other.value)))
                })
        }
        _ => false,
    }
}

/// The order of two numbers or two strings; `None` for anything else.
fn compare(left: &Value<'_>, right: &Value<'_>) -> Option<Ordering> {
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        _ => left.as_f64()?.partial_cmp(&right.as_f64()?),
    }
}

/// Integer arithmetic with `checked`, float arithmetic otherwise; nil on a
/// type mismatch or an overflow.
fn arithmetic(
    left: &Value<'_>,
    right: &Value<'_>,
    integer: fn(i64, i64) -> Option<i64>,
    float: fn(f64, f64) -> f64,
) -> Value<'static> {
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => integer(*a, *b).map_or(Value::Nil, Value::Int),
        _ => match (left.as_f64(), right.as_f64()) {
            (Some(a), Some(b)) => Value::Float(float(a, b)),
            _ => Value::Nil,
        },
    }
}

fn add<'e>(left: Value<'e>, right: Value<'e>) -> Value<'e> {
    match (left, right) {
        (Value::Str(a), Value::Str(b)) => Value::Str(Cow::Owned(a.into_owned() + &b)),
        (Value::Array(mut a), Value::Array(b)) => {
            a.extend(b);
            Value::Array(a)
        }
        (left, right) => arithmetic(&left, &right, i64::checked_add, |a, b| a + b),
    }
}

/// `/` is always a float division in expr-lang; by zero it is nil here.
fn divide(left: &Value<'_>, right: &Value<'_>) -> Value<'static> {
    match (left.as_f64(), right.as_f64()) {
        // Not by 0.0, nor by -0.0 (which equals it).
        (Some(dividend), Some(divisor)) if divisor != 0.0 => Value::Float(dividend / divisor),
        _ => Value::Nil,
    }
}

/// `%` is for integers only (as in expr-lang); by zero it is nil.
fn modulo(left: &Value<'_>, right: &Value<'_>) -> Value<'static> {
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => a.checked_rem(*b).map_or(Value::Nil, Value::Int),
        _ => Value::Nil,
    }
}

fn power(left: &Value<'_>, right: &Value<'_>) -> Value<'static> {
    match (left.as_f64(), right.as_f64()) {
        (Some(a), Some(b)) => Value::Float(a.powf(b)),
        _ => Value::Nil,
    }
}

/// `a..b` as an array of the integers from `a` to `b` inclusive (empty when
/// `b < a`); nil when either is not an integer or it would be very long.
fn range(left: &Value<'_>, right: &Value<'_>) -> Value<'static> {
    match (left, right) {
        (Value::Int(low), Value::Int(high)) if high.saturating_sub(*low) < MAX_RANGE => {
            Value::Array((*low..=*high).map(Value::Int).collect())
        }
        _ => Value::Nil,
    }
}

/// `needle in haystack`: an element of an array, a key of a map.
fn contained_in(needle: &Value<'_>, haystack: &Value<'_>) -> bool {
    match (needle, haystack) {
        (_, Value::Array(items)) => items.iter().any(|item| equal(needle, item)),
        (Value::Str(key), Value::Map(entries)) => entries.iter().any(|entry| entry.key == **key),
        _ => false,
    }
}

/// `needle in low..high` without building the range.
fn in_range(needle: &Value<'_>, low: &Value<'_>, high: &Value<'_>) -> bool {
    let (Value::Int(low), Value::Int(high)) = (low, high) else {
        return false;
    };
    match needle {
        Value::Int(number) => (low..=high).contains(&number),
        Value::Float(number) => number.fract() == 0.0 && (*low as f64..=*high as f64).contains(number),
        _ => false,
    }
}

/// Applies `test` to two strings; false when either is not one.
fn strings(left: &Value<'_>, right: &Value<'_>, test: fn(&str, &str) -> bool) -> Value<'static> {
    Value::Bool(match (left.as_str(), right.as_str()) {
        (Some(a), Some(b)) => test(a, b),
        _ => false,
    })
}

/// `object[key]`: a map's value, an array's element (negative counts from
/// the end), a string's character; nil when there is none.
fn index<'e>(object: Value<'e>, key: &Value<'_>) -> Value<'e> {
    match (object, key) {
        (Value::Map(Cow::Borrowed(entries)), Value::Str(key)) => entries
            .iter()
            .find(|entry| entry.key == **key)
            .map_or(Value::Nil, |entry| optional_value(&entry.value)),
        (Value::Map(Cow::Owned(entries)), Value::Str(key)) => entries
            .into_iter()
            .find(|entry| entry.key == **key)
            .and_then(|entry| entry.value)
            .map_or(Value::Nil, Value::from_owned),
        (Value::Array(items), Value::Int(at)) => {
            let at = if *at < 0 { *at + items.len() as i64 } else { *at };
            usize::try_from(at)
                .ok()
                .and_then(|at| items.into_iter().nth(at))
                .unwrap_or(Value::Nil)
        }
        (Value::Str(text), Value::Int(at)) => {
            let length = text.chars().count() as i64;
            let at = if *at < 0 { *at + length } else { *at };
            usize::try_from(at)
                .ok()
                .and_then(|at| text.chars().nth(at))
                .map_or(Value::Nil, |c| Value::Str(Cow::Owned(c.to_string())))
        }
        _ => Value::Nil,
    }
}

fn call<'e>(function: Function, argument: Value<'e>) -> Value<'e> {
    match (function, argument) {
        (Function::Env, Value::Str(name)) => Value::Str(Cow::Owned(std::env::var(&*name).unwrap_or_default())),
        (Function::Len, Value::Str(text)) => Value::Int(text.chars().count() as i64),
        (Function::Len, Value::Array(items)) => Value::Int(items.len() as i64),
        (Function::Len, Value::Map(entries)) => Value::Int(entries.len() as i64),
        (Function::Lower, Value::Str(text)) => Value::Str(Cow::Owned(text.to_lowercase())),
        (Function::Upper, Value::Str(text)) => Value::Str(Cow::Owned(text.to_uppercase())),
        (Function::Trim, Value::Str(Cow::Borrowed(text))) => Value::Str(Cow::Borrowed(text.trim())),
        (Function::Trim, Value::Str(Cow::Owned(text))) => Value::Str(Cow::Owned(text.trim().to_string())),
        (Function::Int, Value::Int(number)) => Value::Int(number),
        (Function::Int, Value::Float(number)) => float_to_int(number),
        (Function::Int, Value::Str(text)) => text.trim().parse().map_or(Value::Nil, Value::Int),
        (Function::Float, Value::Int(number)) => Value::Float(number as f64),
        (Function::Float, Value::Float(number)) => Value::Float(number),
        (Function::Float, Value::Str(text)) => text.trim().parse().map_or(Value::Nil, Value::Float),
        (Function::String, Value::Str(text)) => Value::Str(text),
        (Function::String, Value::Int(number)) => Value::Str(Cow::Owned(number.to_string())),
        (Function::String, Value::Float(number)) => Value::Str(Cow::Owned(number.to_string())),
        (Function::String, Value::Bool(flag)) => Value::Str(Cow::Borrowed(if flag { "true" } else { "false" })),
        _ => Value::Nil,
    }
}

/// A float truncated toward zero, nil when it does not fit an i64.
fn float_to_int(number: f64) -> Value<'static> {
    let truncated = number.trunc();
    // i64::MAX as f64 rounds up to 2^63, which does not fit: the bound is exclusive.
    if truncated.is_finite() && truncated >= i64::MIN as f64 && truncated < i64::MAX as f64 {
        Value::Int(truncated as i64)
    } else {
        Value::Nil
    }
}

impl Node {
    fn eval<'e>(&self, entry: &'e Entry) -> Value<'e> {
        match self {
            Node::Literal(value) => value.clone(),
            Node::Array(items) => Value::Array(items.iter().map(|item| item.eval(entry)).collect()),
            Node::Path(field) => match (field.root, field.keys.is_empty()) {
                (Root::Attributes, true) => Value::Map(Cow::Borrowed(&entry.record.attributes)),
                (Root::Resource, true) => Value::Map(Cow::Borrowed(&entry.resource)),
                _ => field.get(entry).map_or(Value::Nil, Value::from_cow),
            },
            Node::Timestamp => match entry.record.time_unix_nano {
                0 => Value::Nil,
                nanos => i64::try_from(nanos).map_or(Value::Nil, Value::Int),
            },
            Node::Index { object, key } => index(object.eval(entry), &key.eval(entry)),
            Node::Call { function, argument } => call(*function, argument.eval(entry)),
            Node::Unary { op, operand } => match (op, operand.eval(entry)) {
                (UnaryOp::Not, value) => Value::Bool(!value.is_true()),
                (UnaryOp::Negate, Value::Int(number)) => number.checked_neg().map_or(Value::Nil, Value::Int),
                (UnaryOp::Negate, Value::Float(number)) => Value::Float(-number),
                (UnaryOp::Plus, value @ (Value::Int(_) | Value::Float(_))) => value,
                _ => Value::Nil,
            },
            Node::Binary { op, left, right } => self.eval_binary(*op, left, right, entry),
            Node::MatchesRegex { subject, regex } => {
                Value::Bool(subject.eval(entry).as_str().is_some_and(|text| regex.is_match(text)))
            }
            Node::Conditional {
                condition,
                then,
                otherwise,
            } => {
                if condition.eval(entry).is_true() {
                    then.eval(entry)
                } else {
                    otherwise.eval(entry)
                }
            }
        }
    }

    fn eval_binary<'e>(&self, op: BinaryOp, left: &Node, right: &Node, entry: &'e Entry) -> Value<'e> {
        // The operators that do not always evaluate their right side.
        match op {
            BinaryOp::And => return Value::Bool(left.eval(entry).is_true() && right.eval(entry).is_true()),
            BinaryOp::Or => return Value::Bool(left.eval(entry).is_true() || right.eval(entry).is_true()),
            BinaryOp::Coalesce => {
                return match left.eval(entry) {
                    Value::Nil => right.eval(entry),
                    value => value,
                }
            }
            BinaryOp::In => {
                if let Node::Binary {
                    op: BinaryOp::Range,
                    left: low,
                    right: high,
                } = right
                {
                    return Value::Bool(in_range(&left.eval(entry), &low.eval(entry), &high.eval(entry)));
                }
            }
            _ => {}
        }
        let (left, right) = (left.eval(entry), right.eval(entry));
        let ordered = |accept: fn(Ordering) -> bool| Value::Bool(compare(&left, &right).is_some_and(accept));
        match op {
            BinaryOp::Equal => Value::Bool(equal(&left, &right)),
            BinaryOp::NotEqual => Value::Bool(!equal(&left, &right)),
            BinaryOp::Less => ordered(Ordering::is_lt),
            BinaryOp::LessOrEqual => ordered(Ordering::is_le),
            BinaryOp::Greater => ordered(Ordering::is_gt),
            BinaryOp::GreaterOrEqual => ordered(Ordering::is_ge),
            BinaryOp::In => Value::Bool(contained_in(&left, &right)),
            BinaryOp::Matches => strings(&left, &right, |text, pattern| {
                Regex::new(pattern).is_ok_and(|regex| regex.is_match(text))
            }),
            BinaryOp::Contains => strings(&left, &right, |text, part| text.contains(part)),
            BinaryOp::StartsWith => strings(&left, &right, |text, prefix| text.starts_with(prefix)),
            BinaryOp::EndsWith => strings(&left, &right, |text, suffix| text.ends_with(suffix)),
            BinaryOp::Range => range(&left, &right),
            BinaryOp::Add => add(left, right),
            BinaryOp::Subtract => arithmetic(&left, &right, i64::checked_sub, |a, b| a - b),
            BinaryOp::Multiply => arithmetic(&left, &right, i64::checked_mul, |a, b| a * b),
            BinaryOp::Divide => divide(&left, &right),
            BinaryOp::Modulo => modulo(&left, &right),
            BinaryOp::Power => power(&left, &right),
            BinaryOp::And | BinaryOp::Or | BinaryOp::Coalesce => Value::Nil,
        }
    }
}

#[cfg(test)]
#[path = "expr_tests.rs"]
mod tests;
