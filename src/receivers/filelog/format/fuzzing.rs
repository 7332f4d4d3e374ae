//! What the `filelog_format` fuzz target checks (fuzz/fuzz_targets/filelog_format.rs),
//! kept here so `cargo test` replays the seeds through the same code
//! (`tests::fuzz_seeds_pass_the_fuzz_checks`).
//!
//! Input: byte 0 picks the format (modulo the number of formats), the rest is the
//! line (bytes that are not UTF-8 become U+FFFD, as the receiver's decoding would
//! make them).

use opentelemetry_proto::tonic::common::v1::any_value::Value;

use super::Format;
use crate::receivers::filelog::entry::Entry;

/// Parses the line as the chosen format and checks what came out: never a
/// panic; an accepted line has no `-` or empty attribute, a status below 1000,
/// finite non-negative durations and sizes, and parsing it again gives the same;
/// a refused line leaves the entry untouched and names its format.
pub fn check(data: &[u8]) {
    let Some((&selector, line)) = data.split_first() else {
        return;
    };
    let format = Format::ALL[usize::from(selector) % Format::ALL.len()];
    let line = String::from_utf8_lossy(line).into_owned();
    let mut entry = Entry::from_line(line.clone(), 7);
    let before = entry.clone();
    match format.parse(&mut entry) {
        Ok(()) => {
            assert_eq!(entry.body_text(), Some(line.as_str()), "the body is kept");
            for kv in &entry.record.attributes {
                match kv.value.as_ref().and_then(|value| value.value.as_ref()) {
                    Some(Value::StringValue(text)) => {
                        assert!(!text.is_empty() && text != "-", "{} is {text:?}", kv.key)
                    }
                    Some(Value::IntValue(number)) => {
                        assert!(*number >= 0, "{} is {number}", kv.key);
                        if kv.key == "http.response.status_code" {
                            assert!(*number < 1000, "status {number}");
                        }
                    }
                    Some(Value::DoubleValue(number)) => {
                        assert!(number.is_finite() && *number >= 0.0, "{} is {number}", kv.key)
                    }
                    other => panic!("{} is {other:?}", kv.key),
                }
            }
            let again = format
                .parse_line(&line)
                .expect("a line accepted once is accepted again");
            assert_eq!(again.attributes, entry.record.attributes);
        }
        Err(error) => {
            assert_eq!(entry, before, "a refused line leaves the entry as it was");
            assert_eq!(error.format, format.name());
        }
    }
}
