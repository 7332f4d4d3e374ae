//! One entry's bytes as a record body, in the file's `encoding`. Nothing here fails:
//! bytes that do not decode become U+FFFD, as the Collector's decoders do.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};

use super::super::config::Encoding;
use super::super::entry::string_value;

/// The body of an entry whose bytes (already cut and trimmed) are `token`; `None`
/// when it is empty after trimming (the Collector sends no empty entries).
pub fn body(encoding: Encoding, token: &[u8]) -> Option<AnyValue> {
    match encoding {
        Encoding::Utf8 => non_empty(String::from_utf8_lossy(token).into_owned()),
        Encoding::Ascii => non_empty(
            token
                .iter()
                .map(|&b| if b.is_ascii() { b as char } else { '\u{fffd}' })
                .collect(),
        ),
        Encoding::Utf16Le => non_empty(utf16(token, u16::from_le_bytes)),
        Encoding::Utf16Be => non_empty(utf16(token, u16::from_be_bytes)),
        Encoding::Nop => (!token.is_empty()).then(|| AnyValue {
            value: Some(any_value::Value::BytesValue(token.to_vec())),
        }),
    }
}

fn non_empty(text: String) -> Option<AnyValue> {
    (!text.is_empty()).then(|| string_value(text))
}

/// UTF-16 text, trimmed of whitespace; an odd last byte is U+FFFD.
fn utf16(token: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = token.chunks(2).map(|pair| match pair {
        [a, b] => unit([*a, *b]),
        _ => 0xfffd,
    });
    let text: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    let trimmed = text.trim();
    if trimmed.len() == text.len() {
        text
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Option<AnyValue>) -> Option<String> {
        match value?.value? {
            any_value::Value::StringValue(s) => Some(s),
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        assert_eq!(text(body(Encoding::Utf8, b"a\xffb")).unwrap(), "a\u{fffd}b");
        assert_eq!(text(body(Encoding::Ascii, "é".as_bytes())).unwrap(), "\u{fffd}\u{fffd}");
        assert_eq!(text(body(Encoding::Utf16Le, &[b'a', 0, b'b'])).unwrap(), "a\u{fffd}");
        assert_eq!(body(Encoding::Utf8, b""), None);
    }

    #[test]
    fn utf16_both_byte_orders_and_nop_keeps_bytes() {
        let le: Vec<u8> = " héllo\r".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = "héllo".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(text(body(Encoding::Utf16Le, &le)).unwrap(), "héllo");
        assert_eq!(text(body(Encoding::Utf16Be, &be)).unwrap(), "héllo");
        let nop = body(Encoding::Nop, b"\xff\x00").unwrap();
        assert_eq!(nop.value, Some(any_value::Value::BytesValue(vec![0xff, 0])));
    }
}
