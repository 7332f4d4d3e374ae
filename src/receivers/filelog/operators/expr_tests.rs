use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};

use super::{embedded, Expr};
use crate::receivers::filelog::entry::{string_value, Entry};
use crate::receivers::filelog::operators::field::map_value;

fn pair(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

fn int(number: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(number)),
    }
}

fn float(number: f64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::DoubleValue(number)),
    }
}

fn boolean(flag: bool) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::BoolValue(flag)),
    }
}

fn array(values: Vec<AnyValue>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
    }
}

/// An access-log entry as the parsers leave it: a map body, attributes with
/// dotted keys, a resource.
fn entry() -> Entry {
    let mut entry = Entry::from_line(String::new(), 1);
    entry.record.body = Some(map_value(vec![
        pair("status", int(503)),
        pair("method", string_value("GET")),
        pair("path", string_value("/api/v1/users")),
        pair("duration", float(0.25)),
        pair("cached", boolean(false)),
        pair("upstream", map_value(vec![pair("host", string_value("10.0.0.7"))])),
        pair("tags", array(vec![string_value("a"), string_value("b")])),
    ]));
    entry.record.attributes = vec![
        pair("http.method", string_value("POST")),
        pair("http.status_code", int(200)),
        pair("log.file.name", string_value("access.log")),
    ];
    entry.record.time_unix_nano = 1_700_000_000_000_000_000;
    entry.resource = vec![pair("host.name", string_value("lb-1"))];
    entry
}

fn parse(text: &str) -> Expr {
    Expr::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

/// Whether `text` is true for [`entry`].
fn holds(text: &str) -> bool {
    parse(text).matches(&entry())
}

fn value(text: &str) -> Option<AnyValue> {
    parse(text).eval(&entry())
}

/// Asserts every expression in `texts` is true and its negation false.
fn all_hold(texts: &[&str]) {
    for text in texts {
        assert!(holds(text), "expected true: {text}");
        assert!(!holds(&format!("!({text})")), "expected its negation false: {text}");
    }
}

fn none_hold(texts: &[&str]) {
    for text in texts {
        assert!(!holds(text), "expected false: {text}");
    }
}

/// The parse error for `text`, which must not parse.
fn error(text: &str) -> String {
    match Expr::parse(text) {
        Ok(expr) => panic!("{text} parsed as {expr:?}"),
        Err(error) => error,
    }
}

#[test]
fn reads_body_attributes_and_resource_fields() {
    all_hold(&[
        "body.status == 503",
        "body[\"method\"] == 'GET'",
        "body.upstream.host == \"10.0.0.7\"",
        "body['upstream']['host'] == \"10.0.0.7\"",
        "attributes[\"http.method\"] == \"POST\"",
        "attributes['http.status_code'] == 200",
        "resource[\"host.name\"] == \"lb-1\"",
        "$body.status == 503",
        "$attributes['http.method'] == 'POST'",
        "$resource['host.name'] == 'lb-1'",
        "body.tags[0] == 'a'",
        "body.tags[-1] == 'b'",
        "body?.upstream?.host == '10.0.0.7'",
        "timestamp == 1700000000000000000",
        // A key computed from another field.
        "body[body.method == 'GET' ? 'status' : 'path'] == 503",
        "len(attributes) == 3",
    ]);
    assert_eq!(value("body.path"), Some(string_value("/api/v1/users")));
    assert_eq!(
        value("body.upstream"),
        Some(map_value(vec![pair("host", string_value("10.0.0.7"))]))
    );
    assert_eq!(
        value("resource"),
        Some(map_value(vec![pair("host.name", string_value("lb-1"))]))
    );
    // A body that is still the raw line.
    let line = Entry::from_line("GET /health 200".into(), 1);
    assert!(parse("body startsWith 'GET'").matches(&line));
    assert!(parse("body.status == nil").matches(&line));
}

#[test]
fn literals() {
    assert_eq!(value("'it' + \"'s\""), Some(string_value("it's")));
    assert_eq!(
        value(r#""tab\there \"q\" \x41\u00e9\U0001F600 \\""#),
        Some(string_value("tab\there \"q\" Aé😀 \\"))
    );
    assert_eq!(value(r"'single \'quoted\''"), Some(string_value("single 'quoted'")));
    assert_eq!(value(r"`raw \n`"), Some(string_value(r"raw \n")));
    assert_eq!(value("1_000"), Some(int(1000)));
    assert_eq!(value("0xff"), Some(int(255)));
    assert_eq!(value("2.5"), Some(float(2.5)));
    assert_eq!(value("1e3"), Some(float(1000.0)));
    assert_eq!(value("2.5e-1"), Some(float(0.25)));
    assert_eq!(value("true"), Some(boolean(true)));
    assert_eq!(value("false"), Some(boolean(false)));
    assert_eq!(value("nil"), None);
    assert_eq!(
        value("[1, 'a', [true]]"),
        Some(array(vec![int(1), string_value("a"), array(vec![boolean(true)])]))
    );
    assert_eq!(value("[]"), Some(array(vec![])));
    assert_eq!(value("[1, 2,]"), Some(array(vec![int(1), int(2)])));
}

#[test]
fn comparisons_across_numbers_and_strings() {
    all_hold(&[
        "body.status == 503",
        "body.status == 503.0",
        "503.0 == body.status",
        "body.status != 500",
        "body.status > 499",
        "body.status >= 503",
        "body.status < 600",
        "body.status <= 503",
        "body.duration < 1",
        "body.duration > 0.1",
        "body.duration >= 0.25",
        "body.duration <= 0.25",
        "'abc' < 'abd'",
        "'b' > 'a'",
        "'a' <= 'a'",
        "'a' >= 'a'",
        "body.cached == false",
        "[1, 'a'] == [1.0, 'a']",
        "body.upstream == body.upstream",
        "1 < 2 < 3",
        "3 > 2 >= 2",
    ]);
    none_hold(&[
        "body.status == '503'",
        "'10' < 9",
        "body.status < 'z'",
        "[1] == [1, 2]",
        "1 < 3 < 2",
        "body.upstream == attributes",
        "true > false",
    ]);
}

#[test]
fn nil_compares_false_except_for_equality_with_nil() {
    all_hold(&[
        "body.missing == nil",
        "nil == body.missing",
        "attributes['no.such'] == nil",
        "body.upstream.missing.deeper == nil",
        "body.status.not_a_map == nil",
        "body.status != nil",
        "nil == nil",
        "body.tags[5] == nil",
        "(body.missing ?? 'fallback') == 'fallback'",
    ]);
    none_hold(&[
        "body.missing != nil",
        "body.missing < 5",
        "body.missing > 5",
        "body.missing <= 5",
        "body.missing >= 5",
        "body.missing == 0",
        "body.missing == ''",
        "body.missing == false",
        "body.missing matches '.*'",
        "body.missing contains ''",
        "body.missing",
        "nil",
    ]);
    // `in` does find nil in an array holding it.
    assert!(holds("body.missing in [nil, 1]"));
}

#[test]
fn boolean_operators_short_circuit_and_accept_only_true() {
    all_hold(&[
        "true and true",
        "true && true",
        "true or false",
        "false || true",
        "not false",
        "!false",
        "!!true",
        "not not true",
        // Only `true` is true: a non-boolean operand is false, never an error.
        "not body.missing",
        "not 1",
        "!(1 and true)",
    ]);
    none_hold(&[
        "true and false",
        "false && true",
        "false or false",
        "false || false",
        "not true",
        "'yes' or 1",
    ]);
    assert_eq!(value("1 and true"), Some(boolean(false)));
    assert_eq!(value("true or body.missing"), Some(boolean(true)));
}

#[test]
fn matches_compiles_literal_patterns_and_is_false_on_non_strings() {
    all_hold(&[
        "body.path matches '^/api/v[0-9]+/'",
        "attributes['http.method'] matches \"^(POST|PUT)$\"",
        "body.path not matches 'health'",
        // A pattern computed per entry.
        "body.path matches ('^/' + 'api')",
        "'a.b' matches body.missing ?? 'a\\\\.b'",
    ]);
    none_hold(&[
        "body.status matches '5..'",
        "body.path matches '^users'",
        "body.path matches ('(' + '')",
    ]);
    let error = error("body.path matches '(unclosed'");
    assert!(
        error.contains("column 19") && error.contains("invalid regular expression"),
        "{error}"
    );
}

#[test]
fn string_operators() {
    all_hold(&[
        "body.path contains '/v1/'",
        "body.path startsWith '/api'",
        "body.path endsWith 'users'",
        "body.path not contains 'admin'",
        "body.path not startsWith 'v1'",
        "body.path not endsWith '/'",
        "'abc' contains ''",
    ]);
    none_hold(&[
        "body.status contains '5'",
        "body.status startsWith 5",
        "body.path endsWith body.missing",
    ]);
}

#[test]
fn in_looks_in_arrays_map_keys_and_ranges() {
    all_hold(&[
        "body.method in ['GET', 'HEAD']",
        "body.status in [500, 502, 503]",
        "body.status in 500..599",
        "body.status not in 200..299",
        "503.0 in 500..599",
        "'a' in body.tags",
        "'http.method' in attributes",
        "'upstream' in body",
        "'host.name' in resource",
        "'x' not in attributes",
        "!(body.status in [1, 2])",
    ]);
    none_hold(&[
        "body.method in ['POST']",
        "503.5 in 500..599",
        "body.status in 600..500",
        "body.status in 'abc'",
        "'a' in body.missing",
        "1 in body.upstream",
    ]);
    assert_eq!(value("1..3"), Some(array(vec![int(1), int(2), int(3)])));
    assert_eq!(value("0..10000000"), None, "a huge range is not built");
    assert!(holds("5000000 in 0..10000000"), "but membership in it is checked");
}

#[test]
fn arithmetic() {
    assert_eq!(value("1 + 2"), Some(int(3)));
    assert_eq!(value("1 + 2.5"), Some(float(3.5)));
    assert_eq!(value("'a' + 'b'"), Some(string_value("ab")));
    assert_eq!(
        value("body.method + ' ' + body.path"),
        Some(string_value("GET /api/v1/users"))
    );
    assert_eq!(value("[1] + [2]"), Some(array(vec![int(1), int(2)])));
    assert_eq!(value("'a' + 1"), None);
    assert_eq!(value("5 - 7"), Some(int(-2)));
    assert_eq!(value("1.5 - 1"), Some(float(0.5)));
    assert_eq!(value("6 * 7"), Some(int(42)));
    assert_eq!(value("body.duration * 1000"), Some(float(250.0)));
    assert_eq!(
        value("7 / 2"),
        Some(float(3.5)),
        "division is always a float, as in expr-lang"
    );
    assert_eq!(value("7 % 4"), Some(int(3)));
    assert_eq!(value("-7 % 4"), Some(int(-3)));
    assert_eq!(value("2 ** 10"), Some(float(1024.0)));
    assert_eq!(value("2 ^ 3"), Some(float(8.0)));
    assert_eq!(value("-body.status"), Some(int(-503)));
    assert_eq!(value("-body.duration"), Some(float(-0.25)));
    assert_eq!(value("+body.status"), Some(int(503)));
    assert_eq!(value("-'a'"), None);
    // Where expr-lang fails at run time, the value is nil.
    for nil in [
        "1 / 0",
        "1 / 0.0",
        "1 / -0.0",
        "1 % 0",
        "1.5 % 1",
        "9223372036854775807 + 1",
        "-9223372036854775807 - 2",
        "9223372036854775807 * 2",
        "-(-9223372036854775807 - 1)",
        "(-9223372036854775807 - 1) % -1",
        "body.missing + 1",
        "true + 1",
    ] {
        assert_eq!(value(nil), None, "{nil}");
    }
    all_hold(&[
        "body.status / 100 >= 5",
        "body.status % 100 == 3",
        "body.status - 3 == 500",
    ]);
}

#[test]
fn precedence_follows_expr_lang() {
    assert_eq!(value("1 + 2 * 3"), Some(int(7)));
    assert_eq!(value("(1 + 2) * 3"), Some(int(9)));
    assert_eq!(value("10 - 4 - 3"), Some(int(3)), "left-associative");
    assert_eq!(value("2 ** 3 ** 2"), Some(float(512.0)), "right-associative");
    assert_eq!(value("-2 ** 2"), Some(float(-4.0)), "** binds tighter than unary minus");
    assert_eq!(value("2 * 3 % 4"), Some(int(2)));
    all_hold(&[
        "true or false and false",
        "(true or false) and true",
        "1 + 1 == 2 and 'a' < 'b'",
        "1 == 1 or 1 / 0 == nil",
        // `not` binds tighter than comparisons: `(not true) == false`.
        "not true == false",
        "!false == true",
        "body.status in 500..599 && body.method == 'GET'",
        "1 + 1 in [2]",
        "(body.missing ?? 1) == 1",
        "1 == body.missing ?? 1",
    ]);
    assert!(!holds("false and false or false"));
    assert_eq!(value("(true or false) and false"), Some(boolean(false)));
    assert_eq!(value("body.missing ?? body.status"), Some(int(503)));
    assert_eq!(
        value("body.missing ?? body.other ?? 'last'"),
        Some(string_value("last"))
    );
}

#[test]
fn conditional() {
    assert_eq!(
        value("body.status >= 500 ? 'error' : 'ok'"),
        Some(string_value("error"))
    );
    assert_eq!(value("body.status < 500 ? 'ok' : 'error'"), Some(string_value("error")));
    assert_eq!(
        value("body.status < 300 ? 'ok' : body.status < 500 ? 'client' : 'server'"),
        Some(string_value("server"))
    );
    assert_eq!(
        value("body.missing ? 1 : 2"),
        Some(int(2)),
        "only true picks the first branch"
    );
    assert_eq!(value("true ? body.missing : 2"), None);
    all_hold(&["(true ? 1 : 2) == 1", "false ? false : true"]);
}

#[test]
fn functions() {
    std::env::set_var("SLOOP_EXPR_TEST_STACK", "prod");
    all_hold(&[
        "env('SLOOP_EXPR_TEST_STACK') == 'prod'",
        "env('SLOOP_EXPR_TEST_SURELY_UNSET') == ''",
        "len(body.path) == 13",
        "len(body.tags) == 2",
        "len('é') == 1",
        "lower(body.method) == 'get'",
        "upper('a') == 'A'",
        "trim('  x ') == 'x'",
        "int('42') == 42",
        "int(2.9) == 2",
        "int(-2.9) == -2",
        "float('0.5') == 0.5",
        "string(body.status) == '503'",
        "string(true) == 'true'",
        "int('x') == nil",
        "int(1e300) == nil",
        "len(body.status) == nil",
    ]);
    assert_eq!(value("env('SLOOP_EXPR_TEST_STACK')"), Some(string_value("prod")));
}

#[test]
fn syntax_errors_name_the_column() {
    let cases = [
        ("body.status ==", "column 15", "end of the expression"),
        ("body.status = 1", "column 13", "comparison is =="),
        ("(1 + 2", "column 7", "to close the ( at column 1"),
        ("[1, 2", "column 6", "array opened at column 1"),
        ("body['x'", "column 9", "to close the ["),
        ("'abc", "column 1", "unterminated string"),
        ("`abc", "column 1", "unterminated raw string"),
        ("'a\\q'", "column 3", "unknown escape \\q"),
        ("'\\xZZ'", "column 2", "\\x needs 2 hex digits"),
        ("'\\uD800'", "column 2", "not a character"),
        ("atributes.x == 1", "column 1", "unknown variable \"atributes\""),
        ("body.x == 1 and foo", "column 17", "unknown variable \"foo\""),
        ("now() > 1", "column 1", "unknown function \"now\""),
        ("env()", "column 5", "takes one argument"),
        ("env('A', 'B')", "column 8", "takes one argument"),
        (
            "body.status 503",
            "column 13",
            "unexpected 503 after a complete expression",
        ),
        ("1 +* 2", "column 4", "expected a value, found \"*\""),
        ("body.", "column 6", "expected a name after"),
        ("body.1", "column 6", "expected a name after"),
        ("body.trim()", "column 10", "methods are not supported"),
        ("body.tags[0:1]", "column 12", "slices are not supported"),
        ("1 not == 2", "column 7", "\"not\" cannot precede \"==\""),
        ("1 not 2", "column 7", "after \"not\""),
        ("a ?? 1 + 2", "column 1", "unknown variable"),
        ("body.x ?? 1 + 2", "column 13", "cannot be mixed without parentheses"),
        ("true ? 1", "column 9", "expected \":\""),
        ("99999999999999999999", "column 1", "integer literal is out of range"),
        ("1e999", "column 1", "float literal is out of range"),
        ("body.status & 1", "column 13", "logical and is &&"),
        ("body.status | lower", "column 13", "pipes are not supported"),
        ("", "column 1", "expected a value, found the end of the expression"),
        ("body #", "column 6", "unexpected character '#'"),
        ("body.x == and", "column 11", "found the operator \"and\""),
        ("in [1]", "column 1", "found the operator \"in\""),
    ];
    for (text, column, what) in cases {
        let error = error(text);
        assert!(
            error.contains(&format!("{column}:")) && error.contains(what),
            "{text}: {error:?} should name {column} and {what:?}"
        );
        assert!(error.contains(&format!("{text:?}")), "{error:?} quotes the expression");
    }
}

#[test]
fn deserializes_from_a_string_with_the_error_in_place() {
    #[derive(serde::Deserialize)]
    struct Operator {
        #[serde(rename = "if")]
        condition: Expr,
    }
    let operator: Operator = serde_json::from_str(r#"{"if": "body.status >= 500"}"#).unwrap();
    assert!(operator.condition.matches(&entry()));
    assert_eq!(operator.condition.source(), "body.status >= 500");
    assert_eq!(operator.condition.to_string(), "body.status >= 500");
    let error = serde_json::from_str::<Operator>(r#"{"if": "body.status >"}"#)
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
    assert!(error.contains("column 14"), "{error}");
    let error = serde_json::from_str::<Operator>(r#"{"if": 5}"#)
        .err()
        .map(|error| error.to_string());
    assert!(error.is_some_and(|error| error.contains("string")));
}

#[test]
fn deep_or_long_expressions_are_refused_not_overflowed() {
    let nested = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(error(&nested).contains("too"), "{}", error(&nested));
    let nested = format!("{}true", "!".repeat(500));
    assert!(error(&nested).contains("nested too deeply"));
    let chain = vec!["1"; 1500].join(" + ");
    assert!(error(&chain).contains("nested too deeply"));
    let long = vec!["1"; 3000].join(" + ");
    assert!(error(&long).contains("too long"));
    // Within the limits, a long flat condition is fine.
    let wide = vec!["body.status == 1"; 40].join(" or ");
    assert!(!holds(&wide));
}

/// A deterministic stream of arbitrary token soup must parse or fail, and what
/// parses must evaluate, without panicking.
#[test]
fn arbitrary_input_never_panics() {
    const PIECES: [&str; 40] = [
        "body",
        "attributes",
        "resource",
        "timestamp",
        ".",
        "[",
        "]",
        "(",
        ")",
        "'a'",
        "\"b\\n\"",
        "1",
        "2.5",
        "-",
        "+",
        "*",
        "/",
        "%",
        "**",
        "==",
        "!=",
        "<",
        ">=",
        "and",
        "or",
        "not",
        "!",
        "in",
        "matches",
        "contains",
        "?",
        ":",
        "??",
        "..",
        ",",
        "nil",
        "true",
        "env",
        "len",
        "'[('",
    ];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        // xorshift64: fixed seed, so a failure reproduces.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let entry = entry();
    let mut parsed = 0;
    for _ in 0..20_000 {
        let length = 1 + next() % 12;
        let text: Vec<&str> = (0..length)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        if let Ok(expr) = Expr::parse(&text.join(" ")) {
            parsed += 1;
            let _ = expr.matches(&entry);
            let _ = expr.eval(&entry);
        }
    }
    assert!(
        parsed > 100,
        "the generator should produce some valid expressions ({parsed})"
    );
}

#[test]
fn embedded_expressions_are_recognised_by_their_wrapper() {
    assert_eq!(embedded("EXPR(env(\"STACK\"))"), Some("env(\"STACK\")"));
    assert_eq!(embedded("EXPR(body.a + (1))"), Some("body.a + (1)"));
    assert_eq!(embedded("EXPR()"), Some(""));
    for plain in ["prod", "expr(body)", "EXPR(body", " EXPR(body)", "EXPR(body) "] {
        assert_eq!(embedded(plain), None, "{plain}");
    }
}

#[test]
fn equal_when_parsed_from_the_same_text() {
    assert_eq!(parse("body.a == 1"), parse("body.a == 1"));
    assert_ne!(parse("body.a == 1"), parse("body.a == 2"));
}

/// A random expression for [`printed_precedence_matches_a_reference_evaluator`].
enum Tree {
    Int(i64),
    Negate(Box<Tree>),
    Binary(&'static str, Box<Tree>, Box<Tree>),
}

/// What a [`Tree`] evaluates to, by the rules the module documents.
#[derive(Debug, PartialEq)]
enum Reference {
    Nil,
    Int(i64),
    Bool(bool),
}

/// expr-lang's precedence table for the operators [`Tree`] uses: the
/// specification the printed form is checked against, kept apart from the parser.
fn precedence(op: &str) -> u16 {
    match op {
        "or" => 10,
        "and" => 15,
        "==" | "<" => 20,
        "+" | "-" => 30,
        "*" | "%" => 60,
        _ => 90,
    }
}

impl Tree {
    fn random(next: &mut impl FnMut() -> u64, depth: u32) -> Tree {
        const OPS: [&str; 8] = ["or", "and", "==", "<", "+", "-", "*", "%"];
        match next() % 8 {
            _ if depth == 0 => Tree::Int(Tree::random_int(next)),
            0 => Tree::Int(Tree::random_int(next)),
            1 => Tree::Negate(Box::new(Tree::random(next, depth - 1))),
            _ => Tree::Binary(
                OPS[(next() % OPS.len() as u64) as usize],
                Box::new(Tree::random(next, depth - 1)),
                Box::new(Tree::random(next, depth - 1)),
            ),
        }
    }

    fn random_int(next: &mut impl FnMut() -> u64) -> i64 {
        match next() % 10 {
            0 => i64::MAX,
            1 => 0,
            n => n as i64,
        }
    }

    /// With every operation in parentheses.
    fn full(&self) -> String {
        match self {
            Tree::Int(number) => number.to_string(),
            Tree::Negate(operand) => format!("(-{})", operand.full()),
            Tree::Binary(op, left, right) => format!("({} {op} {})", left.full(), right.full()),
        }
    }

    /// With only the parentheses the precedence table requires.
    fn minimal(&self) -> String {
        match self {
            Tree::Int(number) => number.to_string(),
            Tree::Negate(operand) => match **operand {
                Tree::Binary(..) | Tree::Negate(_) => format!("-({})", operand.minimal()),
                Tree::Int(_) => format!("-{}", operand.minimal()),
            },
            Tree::Binary(op, left, right) => {
                let is_comparison = |op: &str| op == "==" || op == "<";
                let wrap = |child: &Tree, is_right: bool| match child {
                    Tree::Binary(inner, ..)
                        if precedence(inner) < precedence(op)
                            || (is_right && precedence(inner) == precedence(op))
                            || (is_comparison(inner) && is_comparison(op)) =>
                    {
                        format!("({})", child.minimal())
                    }
                    _ => child.minimal(),
                };
                format!("{} {op} {}", wrap(left, false), wrap(right, true))
            }
        }
    }

    fn evaluate(&self) -> Reference {
        match self {
            Tree::Int(number) => Reference::Int(*number),
            Tree::Negate(operand) => match operand.evaluate() {
                Reference::Int(number) => number.checked_neg().map_or(Reference::Nil, Reference::Int),
                _ => Reference::Nil,
            },
            Tree::Binary(op, left, right) => {
                let (left, right) = (left.evaluate(), right.evaluate());
                let integers = |apply: fn(i64, i64) -> Option<i64>| match (&left, &right) {
                    (Reference::Int(a), Reference::Int(b)) => apply(*a, *b).map_or(Reference::Nil, Reference::Int),
                    _ => Reference::Nil,
                };
                match *op {
                    "+" => integers(i64::checked_add),
                    "-" => integers(i64::checked_sub),
                    "*" => integers(i64::checked_mul),
                    "%" => integers(i64::checked_rem),
                    "==" => Reference::Bool(left == right),
                    "<" => Reference::Bool(matches!((&left, &right), (Reference::Int(a), Reference::Int(b)) if a < b)),
                    "and" => Reference::Bool(left == Reference::Bool(true) && right == Reference::Bool(true)),
                    _ => Reference::Bool(left == Reference::Bool(true) || right == Reference::Bool(true)),
                }
            }
        }
    }
}

/// Random arithmetic and logic printed with minimal parentheses (by expr-lang's
/// precedence table) and with full ones evaluate alike, and to what an
/// independent evaluator of the tree says.
#[test]
fn printed_precedence_matches_a_reference_evaluator() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let entry = entry();
    for _ in 0..3000 {
        let tree = Tree::random(&mut next, 4);
        let expected = match tree.evaluate() {
            Reference::Nil => None,
            Reference::Int(number) => Some(int(number)),
            Reference::Bool(flag) => Some(boolean(flag)),
        };
        for text in [tree.full(), tree.minimal()] {
            assert_eq!(parse(&text).eval(&entry), expected, "{text} (fully: {})", tree.full());
        }
    }
}
