//! Cutting the bytes read from a file into entries, as the Collector's stanza split
//! functions do: at newlines (in the file's encoding), or with `multiline` at the
//! start or end of a pattern; an entry longer than `max_log_size` is cut at that
//! size and the rest becomes the next entry. Tokens are trimmed of surrounding
//! whitespace (the Collector's default), and an empty token is skipped by the caller.

use super::super::config::{Encoding, Multiline};

/// One entry found in a buffer: its bytes are `buf[start..end]`, and `consumed`
/// bytes of the buffer are done with (the entry and its delimiter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Where the entry starts.
    pub start: usize,
    /// Where it ends (exclusive).
    pub end: usize,
    /// How many bytes of the buffer it uses up.
    pub consumed: usize,
}

/// How a file's bytes are cut into entries.
#[derive(Debug, Clone)]
pub struct Splitter {
    rule: Rule,
    max_log_size: usize,
}

#[derive(Debug, Clone)]
enum Rule {
    /// `\n`, one byte (UTF-8, ASCII, nop).
    Newline,
    /// `\n` as a 16-bit unit.
    Utf16Newline {
        little_endian: bool,
    },
    Multiline(Multiline),
}

impl Splitter {
    /// The splitter for `encoding` and an optional `multiline` rule.
    pub fn new(encoding: Encoding, multiline: Option<Multiline>, max_log_size: u64) -> Self {
        let rule = match (multiline, encoding) {
            (Some(rule), _) => Rule::Multiline(rule),
            (None, Encoding::Utf16Le) => Rule::Utf16Newline { little_endian: true },
            (None, Encoding::Utf16Be) => Rule::Utf16Newline { little_endian: false },
            (None, _) => Rule::Newline,
        };
        let mut max_log_size = usize::try_from(max_log_size).unwrap_or(usize::MAX).max(2);
        if matches!(rule, Rule::Utf16Newline { .. }) {
            // Never cut a 16-bit unit in half.
            max_log_size -= max_log_size % 2;
        }
        Self { rule, max_log_size }
    }

    /// The next complete entry at the start of `buf`, if there is one. With `flush`,
    /// what is left (no delimiter follows it: the file stopped growing) is one too.
    pub fn next(&self, buf: &[u8], flush: bool) -> Option<Token> {
        if buf.is_empty() {
            return None;
        }
        let found = match &self.rule {
            Rule::Newline => memchr::memchr(b'\n', buf).map(|at| Token {
                start: 0,
                end: at,
                consumed: at + 1,
            }),
            Rule::Utf16Newline { little_endian } => utf16_newline(buf, *little_endian).map(|at| Token {
                start: 0,
                end: at,
                consumed: at + 2,
            }),
            Rule::Multiline(Multiline::Start(pattern)) => line_start(pattern, buf),
            Rule::Multiline(Multiline::End(pattern)) => line_end(pattern, buf),
        };
        match found {
            // An entry longer than the limit is cut at the limit, the rest kept.
            Some(token) if token.end - token.start > self.max_log_size => Some(self.cut(token.start)),
            Some(token) => Some(token),
            None if buf.len() >= self.max_log_size => Some(self.cut(0)),
            None if flush => Some(Token {
                start: 0,
                end: buf.len(),
                consumed: buf.len(),
            }),
            None => None,
        }
    }

    /// The first `max_log_size` bytes from `start`, as an entry of their own.
    fn cut(&self, start: usize) -> Token {
        Token {
            start,
            end: start + self.max_log_size,
            consumed: start + self.max_log_size,
        }
    }

    /// Whether text is in 16-bit units (trimmed after decoding, not as bytes).
    pub fn is_utf16(&self) -> bool {
        matches!(self.rule, Rule::Utf16Newline { .. })
    }
}

/// Where the first `\n` unit of UTF-16 text starts (an even offset): the bytes
/// `0a 00` (little endian) or `00 0a` (big endian) at an even offset.
fn utf16_newline(buf: &[u8], little_endian: bool) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = memchr::memchr(b'\n', buf.get(from..)?) {
        let at = from + found;
        let unit = if little_endian {
            (at % 2 == 0 && buf.get(at + 1) == Some(&0)).then_some(at)
        } else {
            (at % 2 == 1 && buf.get(at - 1) == Some(&0)).then(|| at - 1)
        };
        if unit.is_some() {
            return unit;
        }
        from = at + 1;
    }
    None
}

/// An entry runs from one match of the start pattern to the next; text before the
/// first match is an entry of its own.
fn line_start(pattern: &regex::bytes::Regex, buf: &[u8]) -> Option<Token> {
    let first = pattern.find_iter(buf).find(|m| m.end() > m.start() || m.start() > 0)?;
    if first.start() > 0 {
        return Some(Token {
            start: 0,
            end: first.start(),
            consumed: first.start(),
        });
    }
    let after = first.end().max(1);
    let next = pattern
        .find_iter(buf.get(after..)?)
        .find(|m| m.end() > m.start() || m.start() > 0)?;
    let end = after + next.start();
    Some(Token {
        start: 0,
        end,
        consumed: end,
    })
}

/// An entry runs up to the end of a match of the end pattern.
fn line_end(pattern: &regex::bytes::Regex, buf: &[u8]) -> Option<Token> {
    let found = pattern.find_iter(buf).find(|m| m.end() > 0)?;
    Some(Token {
        start: 0,
        end: found.end(),
        consumed: found.end(),
    })
}

/// `token` without ASCII whitespace at either end (the Collector's default trim).
pub fn trim(token: &[u8]) -> &[u8] {
    token.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(splitter: &Splitter, mut buf: &[u8], flush: bool) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(token) = splitter.next(buf, flush) {
            out.push(String::from_utf8_lossy(trim(&buf[token.start..token.end])).into_owned());
            buf = &buf[token.consumed..];
        }
        out
    }

    #[test]
    fn newlines_cut_entries_and_a_partial_line_waits_unless_flushed() {
        let splitter = Splitter::new(Encoding::Utf8, None, 1024);
        assert_eq!(tokens(&splitter, b"a\r\nb\nc", false), ["a", "b"]);
        assert_eq!(tokens(&splitter, b"a\r\nb\nc", true), ["a", "b", "c"]);
    }

    #[test]
    fn long_lines_are_cut_at_max_log_size() {
        let splitter = Splitter::new(Encoding::Utf8, None, 4);
        assert_eq!(
            tokens(&splitter, b"abcdefghij\nxy\n", false),
            ["abcd", "efgh", "ij", "xy"]
        );
    }

    #[test]
    fn utf16_newlines_are_found_on_unit_boundaries() {
        let le: Vec<u8> = "a\u{0a00}\nb\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let splitter = Splitter::new(Encoding::Utf16Le, None, 1024);
        let first = splitter.next(&le, false).unwrap();
        assert_eq!(first.end, 4, "U+0A00 holds a 0x0a byte that is not a newline");
        let be: Vec<u8> = "\u{0a00}x\ny\n".encode_utf16().flat_map(u16::to_be_bytes).collect();
        let splitter = Splitter::new(Encoding::Utf16Be, None, 1024);
        let first = splitter.next(&be, false).unwrap();
        assert_eq!((first.end, first.consumed), (4, 6));
    }

    #[test]
    fn multiline_start_pattern_groups_continuation_lines() {
        let pattern = regex::bytes::Regex::new(r"(?m)^\d{4}-").unwrap();
        let splitter = Splitter::new(Encoding::Utf8, Some(Multiline::Start(pattern)), 1024);
        let text = b"junk\n2024-1 a\n  at x\n2024-2 b\n2024-3 c\n";
        assert_eq!(tokens(&splitter, text, false), ["junk", "2024-1 a\n  at x", "2024-2 b"]);
        assert_eq!(tokens(&splitter, text, true).last().unwrap(), "2024-3 c");
    }

    #[test]
    fn multiline_end_pattern_ends_entries() {
        let pattern = regex::bytes::Regex::new(r"END\n").unwrap();
        let splitter = Splitter::new(Encoding::Utf8, Some(Multiline::End(pattern)), 1024);
        assert_eq!(tokens(&splitter, b"a\nb END\nc\nEND\nd", false), ["a\nb END", "c\nEND"]);
    }
}
