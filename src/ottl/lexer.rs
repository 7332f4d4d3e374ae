//! Turns condition text into tokens, each with its byte range in the text.

use super::ParseError;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// How the operator is written.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// `<`, `<=`, `>` and `>=`.
    pub(crate) fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// One token. Identifiers borrow the source text; string literals are unescaped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok<'s> {
    Ident(&'s str),
    Str(String),
    Int(i64),
    Float(f64),
    /// A duration literal, in nanoseconds.
    Duration(i64),
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    /// End of the text. Its position is the end of the last real token.
    Eof,
}

/// A token and its byte range in the condition text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'s> {
    pub(crate) tok: Tok<'s>,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Converts a byte offset in `text` to a 1-based (line, column); columns count characters.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Builds a [`ParseError`] for a byte offset in `text`.
pub(crate) fn error_at(text: &str, offset: usize, message: impl Into<String>) -> ParseError {
    let (line, column) = line_col(text, offset);
    ParseError {
        line,
        column,
        message: message.into(),
    }
}

/// Duration units and their length in nanoseconds.
const UNITS: &[(&str, i128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Splits `text` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token<'_>>, ParseError> {
    let mut lexer = Lexer {
        text,
        pos: 0,
        tokens: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'s> {
    text: &'s str,
    pos: usize,
    tokens: Vec<Token<'s>>,
}

impl<'s> Lexer<'s> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.text[self.pos..].chars().nth(n)
    }

    fn push(&mut self, tok: Tok<'s>, start: usize) {
        self.tokens.push(Token {
            tok,
            start,
            end: self.pos,
        });
    }

    fn err(&self, offset: usize, message: impl Into<String>) -> ParseError {
        error_at(self.text, offset, message)
    }

    fn run(&mut self) -> Result<(), ParseError> {
        while let Some(c) = self.peek() {
            let start = self.pos;
            match c {
                ' ' | '\t' | '\n' | '\r' => self.pos += 1,
                '(' | ')' | '[' | ']' | ',' | '.' => {
                    self.pos += 1;
                    let tok = match c {
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '[' => Tok::LBracket,
                        ']' => Tok::RBracket,
                        ',' => Tok::Comma,
                        _ => Tok::Dot,
                    };
                    self.push(tok, start);
                }
                '=' | '!' | '<' | '>' => {
                    let next_is_eq = self.peek_at(1) == Some('=');
                    let op = match (c, next_is_eq) {
                        ('=', true) => CmpOp::Eq,
                        ('!', true) => CmpOp::Ne,
                        ('<', true) => CmpOp::Le,
                        ('>', true) => CmpOp::Ge,
                        ('<', false) => CmpOp::Lt,
                        ('>', false) => CmpOp::Gt,
                        ('=', false) => return Err(self.err(start, "unexpected '=', use == to compare")),
                        _ => return Err(self.err(start, "unexpected '!', use not to negate or != to compare")),
                    };
                    self.pos += if next_is_eq { 2 } else { 1 };
                    self.push(Tok::Op(op), start);
                }
                '&' if self.peek_at(1) == Some('&') => return Err(self.err(start, "unexpected '&&', use and")),
                '|' if self.peek_at(1) == Some('|') => return Err(self.err(start, "unexpected '||', use or")),
                '"' => self.string()?,
                '\'' => return Err(self.err(start, "strings are written in double quotes")),
                '0'..='9' => self.number()?,
                '-' if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => self.number()?,
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let len = self.text[start..]
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(self.text.len() - start);
                    self.pos += len;
                    self.push(Tok::Ident(&self.text[start..self.pos]), start);
                }
                c => return Err(self.err(start, format!("unexpected character {c:?}"))),
            }
        }
        let end = self.tokens.last().map_or(0, |t| t.end);
        self.tokens.push(Token {
            tok: Tok::Eof,
            start: end,
            end,
        });
        Ok(())
    }

    fn string(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err(start, "unterminated string"));
            };
            let at = self.pos;
            self.pos += c.len_utf8();
            match c {
                '"' => break,
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err(start, "unterminated string"));
                    };
                    self.pos += e.len_utf8();
                    out.push(match e {
                        '"' => '"',
                        '\\' => '\\',
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => {
                            return Err(self.err(
                                at,
                                format!(
                                    "unknown escape \\{other} in string; \
                                     write \\\\ for a backslash (as in regexes: \"\\\\d+\")"
                                ),
                            ))
                        }
                    });
                }
                c => out.push(c),
            }
        }
        self.push(Tok::Str(out), start);
        Ok(())
    }

    /// Reads the digits of one number: `123`, `1.5` or `1e9`. Returns (text, has fraction or exponent).
    fn digits(&mut self) -> (&'s str, bool) {
        let start = self.pos;
        let text = self.text;
        let bytes = text.as_bytes();
        let mut i = self.pos;
        let mut is_float = false;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
            is_float = true;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            let mut j = i + 1;
            if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                j += 1;
            }
            if j < bytes.len() && bytes[j].is_ascii_digit() {
                is_float = true;
                i = j;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        self.pos = i;
        (&text[start..i], is_float)
    }

    /// Reads letters directly after a number (a duration unit), if any.
    fn unit(&mut self) -> &'s str {
        let text = self.text;
        let start = self.pos;
        let len = text[start..]
            .find(|c: char| !(c.is_alphabetic() || c == '_'))
            .unwrap_or(text.len() - start);
        self.pos += len;
        &text[start..start + len]
    }

    fn number(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        let negative = self.peek() == Some('-');
        if negative {
            self.pos += 1;
        }
        let (first, first_is_float) = self.digits();
        let unit_at = self.pos;
        let unit = self.unit();
        if unit.is_empty() {
            let text = &self.text[start..self.pos];
            let tok = if first_is_float {
                Tok::Float(text.parse().map_err(|_| self.err(start, "invalid number"))?)
            } else {
                Tok::Int(text.parse().map_err(|_| self.err(start, "integer out of range"))?)
            };
            self.push(tok, start);
            return Ok(());
        }
        // A duration: one or more <number><unit> parts, like 300ms or 1h30m.
        let mut total: i128 = 0;
        let (mut part, mut part_unit, mut part_unit_at) = (first, unit, unit_at);
        loop {
            let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == part_unit) else {
                return Err(self.err(
                    part_unit_at,
                    format!("unknown duration unit {part_unit}; use ns, us, ms, s, m or h"),
                ));
            };
            total = total.saturating_add(
                part_nanos(part, scale)
                    .ok_or_else(|| self.err(start, format!("invalid duration {part}{part_unit}")))?,
            );
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                break;
            }
            (part, _) = self.digits();
            part_unit_at = self.pos;
            part_unit = self.unit();
            if part_unit.is_empty() {
                return Err(self.err(part_unit_at, "expected a duration unit (ns, us, ms, s, m or h)"));
            }
        }
        if negative {
            total = -total;
        }
        let nanos = i64::try_from(total).map_err(|_| self.err(start, "duration out of range"))?;
        self.push(Tok::Duration(nanos), start);
        Ok(())
    }
}

/// `digits` (like `1.5`) times `scale` nanoseconds, exactly for decimal fractions.
fn part_nanos(digits: &str, scale: i128) -> Option<i128> {
    if digits.contains(['e', 'E']) {
        return None;
    }
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut nanos = int.checked_mul(scale)?;
    if !frac.is_empty() {
        // Ignore digits beyond nanosecond precision.
        let frac = &frac[..frac.len().min(18)];
        let num: i128 = frac.parse().ok()?;
        let den = 10i128.pow(frac.len() as u32);
        nanos = nanos.checked_add(num * scale / den)?;
    }
    Some(nanos)
}
