//! Every format against lines shaped as its product documents them: every
//! attribute and the time asserted, `-` fields left out, and malformed lines
//! (garbage, other formats, every truncation) refused or read without a panic.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};

use super::{Format, Malformed};
use crate::receivers::filelog::entry::{string_value, Entry};

/// An expected attribute value.
#[derive(Debug, Clone, PartialEq)]
enum V {
    S(String),
    I(i64),
    D(f64),
}

fn actual(attributes: &[KeyValue]) -> Vec<(String, V)> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(text)) => V::S(text.clone()),
                Some(Value::IntValue(i)) => V::I(*i),
                Some(Value::DoubleValue(d)) => V::D(*d),
                other => panic!("unexpected value {other:?} for {}", kv.key),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// Parses `line` and checks the attributes (all of them, in any order; doubles
/// to a nanosecond) and the time.
fn check(format: Format, line: &str, time_unix_nano: Option<u64>, expected: &[(&str, V)]) {
    let parsed = format
        .parse_line(line)
        .unwrap_or_else(|error| panic!("{format}: {error}\n{line}"));
    assert_eq!(parsed.time_unix_nano, time_unix_nano, "{format} time of {line}");
    let mut got = actual(&parsed.attributes);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<(String, V)> = expected.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let keys = |list: &[(String, V)]| list.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&got), keys(&want), "{format} attribute keys of {line}");
    for ((key, got), (_, want)) in got.iter().zip(&want) {
        match (got, want) {
            (V::D(got), V::D(want)) => assert!((got - want).abs() < 1e-9, "{format} {key}: {got} != {want}"),
            _ => assert_eq!(got, want, "{format} {key} of {line}"),
        }
    }
}

fn refused(format: Format, line: &str) -> Malformed {
    match format.parse_line(line) {
        Ok(parsed) => panic!("{format} accepted {line:?}: {parsed:?}"),
        Err(error) => error,
    }
}

/// An expected string value.
fn s(text: &str) -> V {
    V::S(text.to_owned())
}

const SECOND: u64 = 1_000_000_000;

// 2000-10-10T20:55:36Z
const OCT_10_2000: u64 = 971_211_336 * SECOND;
// 2026-12-02T19:59:25Z
const DEC_2_2026: u64 = 1_796_241_565 * SECOND;

const NGINX: [&str; 5] = [
    r#"203.0.113.7 - - [10/Oct/2000:13:55:36 -0700] "GET /index.html?lang=en&x=1 HTTP/1.1" 200 2326 "http://example.com/start" "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0""#,
    r#"2001:db8::1 - alice [02/Dec/2026:19:59:25 +0000] "POST /api/v1/orders HTTP/2.0" 503 0 "-" "curl/8.5.0 \x22quoted\x22 \xC3\xA9""#,
    r#"198.51.100.4 - - [02/Dec/2026:19:59:25 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-""#,
    r#"198.51.100.4 - - [02/Dec/2026:20:59:25 +0100] "-" 400 0 "-" "-""#,
    r#"192.0.2.1 - - [02/Dec/2026:19:59:25 +0000] "PROPFIND http://dav.example.com:8080/files/ HTTP/1.0" 207 10 "-" "davfs2/1.7""#,
];

#[test]
fn nginx_combined_lines() {
    let f = Format::NginxCombined;
    check(
        f,
        NGINX[0],
        Some(OCT_10_2000),
        &[
            ("client.address", s("203.0.113.7")),
            ("http.request.method", s("GET")),
            ("url.path", s("/index.html")),
            ("url.query", s("lang=en&x=1")),
            ("network.protocol.version", s("1.1")),
            ("http.response.status_code", V::I(200)),
            ("http.response.body.size", V::I(2326)),
            (
                "user_agent.original",
                s("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
            ),
        ],
    );
    // IPv6 client, HTTP/2, a 5xx, nginx's \xHH escapes (a quote, and UTF-8 é).
    check(
        f,
        NGINX[1],
        Some(DEC_2_2026),
        &[
            ("client.address", s("2001:db8::1")),
            ("http.request.method", s("POST")),
            ("url.path", s("/api/v1/orders")),
            ("network.protocol.version", s("2")),
            ("http.response.status_code", V::I(503)),
            ("http.response.body.size", V::I(0)),
            ("user_agent.original", s("curl/8.5.0 \"quoted\" é")),
        ],
    );
    // A TLS handshake on the plain-HTTP port: no request to read, the 400 counts.
    check(
        f,
        NGINX[2],
        Some(DEC_2_2026),
        &[
            ("client.address", s("198.51.100.4")),
            ("http.response.status_code", V::I(400)),
            ("http.response.body.size", V::I(157)),
        ],
    );
    check(
        f,
        NGINX[3],
        Some(DEC_2_2026),
        &[
            ("client.address", s("198.51.100.4")),
            ("http.response.status_code", V::I(400)),
            ("http.response.body.size", V::I(0)),
        ],
    );
    // A method the conventions do not name, an absolute-form target.
    check(
        f,
        NGINX[4],
        Some(DEC_2_2026),
        &[
            ("client.address", s("192.0.2.1")),
            ("http.request.method", s("_OTHER")),
            ("http.request.method_original", s("PROPFIND")),
            ("url.scheme", s("http")),
            ("server.address", s("dav.example.com")),
            ("server.port", V::I(8080)),
            ("url.path", s("/files/")),
            ("network.protocol.version", s("1.0")),
            ("http.response.status_code", V::I(207)),
            ("http.response.body.size", V::I(10)),
            ("user_agent.original", s("davfs2/1.7")),
        ],
    );
    // Fields appended after the user agent are not this format's business.
    assert!(f.parse_line(&format!("{} 0.004 \"upstream\"", NGINX[0])).is_ok());
}

#[test]
fn nginx_combined_request_time_lines() {
    let f = Format::NginxCombinedRequestTime;
    check(
        f,
        &format!("{} 0.004", NGINX[0]),
        Some(OCT_10_2000),
        &[
            ("client.address", s("203.0.113.7")),
            ("http.request.method", s("GET")),
            ("url.path", s("/index.html")),
            ("url.query", s("lang=en&x=1")),
            ("network.protocol.version", s("1.1")),
            ("http.response.status_code", V::I(200)),
            ("http.response.body.size", V::I(2326)),
            (
                "user_agent.original",
                s("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
            ),
            ("http.server.request.duration", V::D(0.004)),
        ],
    );
    check(
        f,
        &format!("{} 12.250\r\n", NGINX[3]),
        Some(DEC_2_2026),
        &[
            ("client.address", s("198.51.100.4")),
            ("http.response.status_code", V::I(400)),
            ("http.response.body.size", V::I(0)),
            ("http.server.request.duration", V::D(12.25)),
        ],
    );
    let error = refused(f, NGINX[0]);
    assert_eq!(error.reason, "no request duration after the user agent");
    let error = refused(f, &format!("{} 0.0.4", NGINX[0]));
    assert_eq!(error.reason, "the request duration is not a number");
    refused(f, &format!("{} -1", NGINX[0]));
}

const APACHE: [&str; 2] = [
    r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)" 1234"#,
    r#"::1 - - [02/Dec/2026:19:59:25 +0000] "GET /search?q=%22slo%22 HTTP/1.1" 304 - "-" "Mozilla/5.0 \"Quoted\" \\o/" 2500000"#,
];

#[test]
fn apache_combined_duration_lines() {
    let f = Format::ApacheCombinedDuration;
    check(
        f,
        APACHE[0],
        Some(OCT_10_2000),
        &[
            ("client.address", s("127.0.0.1")),
            ("http.request.method", s("GET")),
            ("url.path", s("/apache_pb.gif")),
            ("network.protocol.version", s("1.0")),
            ("http.response.status_code", V::I(200)),
            ("http.response.body.size", V::I(2326)),
            ("user_agent.original", s("Mozilla/4.08 [en] (Win98; I ;Nav)")),
            ("http.server.request.duration", V::D(0.001234)),
        ],
    );
    // `%b` is `-` for no body; Apache escapes `"` and `\` with a backslash.
    check(
        f,
        APACHE[1],
        Some(DEC_2_2026),
        &[
            ("client.address", s("::1")),
            ("http.request.method", s("GET")),
            ("url.path", s("/search")),
            ("url.query", s("q=%22slo%22")),
            ("network.protocol.version", s("1.1")),
            ("http.response.status_code", V::I(304)),
            ("http.response.body.size", V::I(0)),
            ("user_agent.original", s(r#"Mozilla/5.0 "Quoted" \o/"#)),
            ("http.server.request.duration", V::D(2.5)),
        ],
    );
    refused(f, NGINX[0]);
}

const ALB: [&str; 4] = [
    r#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-""#,
    r#"h2 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 10.0.1.252:48160 10.0.0.66:9000 0.000 0.002 0.000 200 200 5 257 "GET https://10.0.2.105:773/?a=1&b=2 HTTP/2.0" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337327-72bd00b0343d75b906739c42" "-" "-" 1 2018-07-02T22:22:48.364000Z "redirect" "https://example.com:80/" "-" "10.0.0.66:9000" "200" "-" "-" TID_1234"#,
    r#"https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 [2001:db8::20]:51000 - -1 -1 -1 503 - 34 366 "POST https://api.example.com:443/v1/pay?id=7 HTTP/1.1" "Mozilla/5.0 \"x\"" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 - "Root=1-5" "api.example.com" "arn" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "-" "-" "-" "-""#,
    r#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 - -1 -1 -1 400 - 0 0 "- http://www.example.com:80- -" "-" - - - "-" "-" "-" - 2018-07-02T22:22:48.364000Z "-" "-" "-" "-" "-" "-" "-""#,
];
// 2018-07-02T22:23:00.186641Z
const ALB_TIME: u64 = 1_530_570_180 * SECOND + 186_641_000;

#[test]
fn aws_alb_lines() {
    let f = Format::AwsAlb;
    check(
        f,
        ALB[0],
        Some(ALB_TIME),
        &[
            ("client.address", s("192.168.131.39")),
            ("client.port", V::I(2817)),
            ("http.response.status_code", V::I(200)),
            ("http.request.size", V::I(34)),
            ("http.response.size", V::I(366)),
            ("http.request.method", s("GET")),
            ("url.scheme", s("http")),
            ("server.address", s("www.example.com")),
            ("server.port", V::I(80)),
            ("url.path", s("/")),
            ("network.protocol.version", s("1.1")),
            ("user_agent.original", s("curl/7.46.0")),
            ("http.server.request.duration", V::D(0.001)),
        ],
    );
    check(
        f,
        ALB[1],
        Some(ALB_TIME),
        &[
            ("client.address", s("10.0.1.252")),
            ("client.port", V::I(48160)),
            ("http.response.status_code", V::I(200)),
            ("http.request.size", V::I(5)),
            ("http.response.size", V::I(257)),
            ("http.request.method", s("GET")),
            ("url.scheme", s("https")),
            ("server.address", s("10.0.2.105")),
            ("server.port", V::I(773)),
            ("url.path", s("/")),
            ("url.query", s("a=1&b=2")),
            ("network.protocol.version", s("2")),
            ("user_agent.original", s("curl/7.46.0")),
            ("http.server.request.duration", V::D(0.002)),
        ],
    );
    // Not sent to a target: -1 times, no duration; an IPv6 client.
    check(
        f,
        ALB[2],
        Some(ALB_TIME),
        &[
            ("client.address", s("2001:db8::20")),
            ("client.port", V::I(51000)),
            ("http.response.status_code", V::I(503)),
            ("http.request.size", V::I(34)),
            ("http.response.size", V::I(366)),
            ("http.request.method", s("POST")),
            ("url.scheme", s("https")),
            ("server.address", s("api.example.com")),
            ("server.port", V::I(443)),
            ("url.path", s("/v1/pay")),
            ("url.query", s("id=7")),
            ("network.protocol.version", s("1.1")),
            ("user_agent.original", s("Mozilla/5.0 \"x\"")),
        ],
    );
    // A request the load balancer could not read.
    check(
        f,
        ALB[3],
        Some(ALB_TIME),
        &[
            ("client.address", s("192.168.131.39")),
            ("client.port", V::I(2817)),
            ("http.response.status_code", V::I(400)),
            ("http.request.size", V::I(0)),
            ("http.response.size", V::I(0)),
        ],
    );
    assert_eq!(
        refused(f, &ALB[0].replace(" 0.001 ", " fast ")).reason,
        "a processing time is not a number of seconds"
    );
    refused(f, NGINX[0]);
}

const GCP: [&str; 3] = [
    r#"{"insertId":"1x2y3z","jsonPayload":{"@type":"type.googleapis.com/google.cloud.loadbalancing.type.LoadBalancerLogEntry","statusDetails":"response_sent_by_backend"},"httpRequest":{"requestMethod":"GET","requestUrl":"https://www.example.com/search?q=slo","requestSize":"89","status":200,"responseSize":"1521","userAgent":"Mozilla/5.0 \"quoted\"","remoteIp":"2001:db8::7","serverIp":"10.128.0.5","latency":"0.012345s","protocol":"HTTP/2.0"},"resource":{"type":"http_load_balancer","labels":{"project_id":"p"}},"timestamp":"2024-05-01T12:00:00.123456789Z","severity":"INFO","logName":"projects/p/logs/requests","receiveTimestamp":"2024-05-01T12:00:01.5Z"}"#,
    r#"{"http_request":{"request_method":"POST","request_url":"http://api.example.com:8080/v1/pay","status":"502","response_size":0,"remote_ip":"203.0.113.9:51234","latency":"2s","protocol":"HTTP/1.1"},"timestamp":"2024-05-01T14:00:00+02:00"}"#,
    r#"{"httpRequest":{"requestMethod":"GET","requestUrl":"https://www.example.com/","remoteIp":"[2001:db8::8]:443","latency":"0.5s"}}"#,
];
// 2024-05-01T12:00:00Z
const MAY_1_2024: u64 = 1_714_564_800 * SECOND;

#[test]
fn gcp_lb_lines() {
    let f = Format::GcpLb;
    check(
        f,
        GCP[0],
        Some(MAY_1_2024 + 123_456_789),
        &[
            ("http.request.method", s("GET")),
            ("url.scheme", s("https")),
            ("server.address", s("www.example.com")),
            ("url.path", s("/search")),
            ("url.query", s("q=slo")),
            ("network.protocol.version", s("2")),
            ("http.response.status_code", V::I(200)),
            ("client.address", s("2001:db8::7")),
            ("user_agent.original", s("Mozilla/5.0 \"quoted\"")),
            ("http.request.size", V::I(89)),
            ("http.response.size", V::I(1521)),
            ("http.server.request.duration", V::D(0.012345)),
        ],
    );
    check(
        f,
        GCP[1],
        Some(MAY_1_2024),
        &[
            ("http.request.method", s("POST")),
            ("url.scheme", s("http")),
            ("server.address", s("api.example.com")),
            ("server.port", V::I(8080)),
            ("url.path", s("/v1/pay")),
            ("network.protocol.version", s("1.1")),
            ("http.response.status_code", V::I(502)),
            ("client.address", s("203.0.113.9")),
            ("client.port", V::I(51234)),
            ("http.response.size", V::I(0)),
            ("http.server.request.duration", V::D(2.0)),
        ],
    );
    // No response (no status), no timestamp.
    check(
        f,
        GCP[2],
        None,
        &[
            ("http.request.method", s("GET")),
            ("url.scheme", s("https")),
            ("server.address", s("www.example.com")),
            ("url.path", s("/")),
            ("client.address", s("2001:db8::8")),
            ("client.port", V::I(443)),
            ("http.server.request.duration", V::D(0.5)),
        ],
    );
    assert_eq!(
        refused(f, r#"{"textPayload":"hello","timestamp":"2024-05-01T12:00:00Z"}"#).reason,
        "no httpRequest object"
    );
    assert_eq!(
        refused(f, r#"{"httpRequest":{"status":"ok"}}"#).reason,
        "httpRequest.status is not a status code"
    );
    assert_eq!(
        refused(f, r#"{"httpRequest":{},"timestamp":"yesterday"}"#).reason,
        "the timestamp is not an RFC 3339 time"
    );
    assert!(refused(f, NGINX[0]).reason.starts_with("not a JSON LogEntry"));
    refused(f, "[1,2]");
}

const ENVOY: [&str; 4] = [
    r#"[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80""#,
    r#"[2020-11-25T21:26:18.409Z] "GET /status/418?x=1 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default"#,
    r#"[2016-04-15T20:17:00.310Z] "GET /health HTTP/1.1" 503 UH 0 19 0 - "203.0.113.5, 10.0.0.1" "kube-probe/1.28" "6b1f" "[2001:db8::9]:8443" "-""#,
    r#"[2016-04-15T20:17:00.310Z] "- - -" 0 DC 0 0 5 - "-" "-" "-" "-" "-""#,
];
// 2016-04-15T20:17:00.310Z
const ENVOY_TIME: u64 = 1_460_751_420 * SECOND + 310_000_000;

#[test]
fn envoy_lines() {
    let f = Format::Envoy;
    check(
        f,
        ENVOY[0],
        Some(ENVOY_TIME),
        &[
            ("http.request.method", s("POST")),
            ("url.path", s("/api/v1/locations")),
            ("network.protocol.version", s("2")),
            ("http.response.status_code", V::I(204)),
            ("http.request.body.size", V::I(154)),
            ("http.response.body.size", V::I(0)),
            ("http.server.request.duration", V::D(0.226)),
            ("user_agent.original", s("nsq2http")),
            ("server.address", s("locations")),
            ("client.address", s("10.0.35.28")),
        ],
    );
    // Istio's default: the client from the downstream remote address.
    check(
        f,
        ENVOY[1],
        Some(1_606_339_578 * SECOND + 409_000_000),
        &[
            ("http.request.method", s("GET")),
            ("url.path", s("/status/418")),
            ("url.query", s("x=1")),
            ("network.protocol.version", s("1.1")),
            ("http.response.status_code", V::I(418)),
            ("http.request.body.size", V::I(0)),
            ("http.response.body.size", V::I(135)),
            ("http.server.request.duration", V::D(0.004)),
            ("user_agent.original", s("curl/7.73.0-DEV")),
            ("server.address", s("httpbin")),
            ("server.port", V::I(8000)),
            ("client.address", s("10.44.1.23")),
            ("client.port", V::I(46520)),
        ],
    );
    check(
        f,
        ENVOY[2],
        Some(ENVOY_TIME),
        &[
            ("http.request.method", s("GET")),
            ("url.path", s("/health")),
            ("network.protocol.version", s("1.1")),
            ("http.response.status_code", V::I(503)),
            ("http.request.body.size", V::I(0)),
            ("http.response.body.size", V::I(19)),
            ("http.server.request.duration", V::D(0.0)),
            ("user_agent.original", s("kube-probe/1.28")),
            ("server.address", s("2001:db8::9")),
            ("server.port", V::I(8443)),
            ("client.address", s("203.0.113.5")),
        ],
    );
    // The client went away before a response: code 0 is kept for SLIs to count.
    check(
        f,
        ENVOY[3],
        Some(ENVOY_TIME),
        &[
            ("http.response.status_code", V::I(0)),
            ("http.request.body.size", V::I(0)),
            ("http.response.body.size", V::I(0)),
            ("http.server.request.duration", V::D(0.005)),
        ],
    );
    refused(f, NGINX[0]);
    assert_eq!(
        refused(f, &ENVOY[0].replace(" 226 ", " 2.26 ")).reason,
        "the duration is not a number of milliseconds"
    );
}

const HAPROXY: [&str; 4] = [
    r#"Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1""#,
    r#"2001:db8::5:51234 [02/Dec/2026:19:59:25.123] fe-https~ be_api/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 1/1/0/0/0 0/0 "GET /api/v1/items?page=2 HTTP/1.1""#,
    r#"<134>1 2026-12-02T19:59:25.123Z lb1 haproxy 1234 - - 10.0.0.9:4000 [02/Dec/2026:19:59:25.000] fe be/srv1 5001/-1/-1/-1/-1 -1 +0 - - CR-- 2/2/0/0/0 0/0 "<BADREQ>""#,
    r#"10.0.0.9:4000 [02/Dec/2026:19:59:25.000] fe be/srv1 1/0/0/2/+3 200 +512 - - ---- 2/2/0/0/0 0/0 {a|b} "GET /very/long/path/cut-short-by-haproxy"#,
];

#[test]
fn haproxy_http_lines() {
    let f = Format::HaproxyHttp;
    check(
        f,
        HAPROXY[0],
        Some(1_233_922_454 * SECOND + 655_000_000),
        &[
            ("client.address", s("10.0.1.2")),
            ("client.port", V::I(33317)),
            ("http.response.status_code", V::I(200)),
            ("http.response.size", V::I(2750)),
            ("http.request.method", s("GET")),
            ("url.path", s("/index.html")),
            ("network.protocol.version", s("1.1")),
            ("http.server.request.duration", V::D(0.109)),
        ],
    );
    // stdout (no syslog header), IPv6, a TLS frontend, no server, -1 timers.
    check(
        f,
        HAPROXY[1],
        Some(DEC_2_2026 + 123_000_000),
        &[
            ("client.address", s("2001:db8::5")),
            ("client.port", V::I(51234)),
            ("url.scheme", s("https")),
            ("http.response.status_code", V::I(503)),
            ("http.response.size", V::I(217)),
            ("http.request.method", s("GET")),
            ("url.path", s("/api/v1/items")),
            ("url.query", s("page=2")),
            ("network.protocol.version", s("1.1")),
            ("http.server.request.duration", V::D(0.0)),
        ],
    );
    // An RFC 5424 header; a bad request with no status and no total time.
    check(
        f,
        HAPROXY[2],
        Some(DEC_2_2026),
        &[
            ("client.address", s("10.0.0.9")),
            ("client.port", V::I(4000)),
            ("http.response.size", V::I(0)),
        ],
    );
    // logasap's `+`; a request line cut short (no protocol, no closing quote).
    check(
        f,
        HAPROXY[3],
        Some(DEC_2_2026),
        &[
            ("client.address", s("10.0.0.9")),
            ("client.port", V::I(4000)),
            ("http.response.status_code", V::I(200)),
            ("http.response.size", V::I(512)),
            ("http.request.method", s("GET")),
            ("url.path", s("/very/long/path/cut-short-by-haproxy")),
            ("http.server.request.duration", V::D(0.003)),
        ],
    );
    assert_eq!(
        refused(f, &HAPROXY[0].replace("10/0/30/69/109", "10/0/30")).reason,
        "the timers are not TR/Tw/Tc/Tr/Ta"
    );
    refused(f, NGINX[0]);
    // tcplog lines are not HTTP logs.
    refused(
        f,
        "10.0.1.2:33315 [06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0",
    );
}

/// Every sample, for the checks that hold for all of them.
fn samples() -> Vec<(Format, String)> {
    let mut all = Vec::new();
    for line in NGINX {
        all.push((Format::NginxCombined, line.to_owned()));
        all.push((Format::NginxCombinedRequestTime, format!("{line} 0.123")));
    }
    for (format, lines) in [
        (Format::ApacheCombinedDuration, &APACHE[..]),
        (Format::AwsAlb, &ALB[..]),
        (Format::GcpLb, &GCP[..]),
        (Format::Envoy, &ENVOY[..]),
        (Format::HaproxyHttp, &HAPROXY[..]),
    ] {
        all.extend(lines.iter().map(|line| (format, (*line).to_owned())));
    }
    all
}

/// No attribute is ever `-` or empty: absent values are left out.
fn assert_no_placeholders(format: Format, line: &str, attributes: &[KeyValue]) {
    for kv in attributes {
        if let Some(Value::StringValue(text)) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            assert!(
                !text.is_empty() && text != "-",
                "{format}: {} is {text:?} in {line:?}",
                kv.key
            );
        }
    }
}

#[test]
fn every_truncation_and_every_other_format_is_read_without_a_panic() {
    for (format, line) in samples() {
        for end in 0..=line.len() {
            let Some(prefix) = line.get(..end) else { continue };
            if let Ok(parsed) = format.parse_line(prefix) {
                assert_no_placeholders(format, prefix, &parsed.attributes);
            }
        }
        for other in Format::ALL {
            if let Ok(parsed) = other.parse_line(&line) {
                assert_no_placeholders(other, &line, &parsed.attributes);
            }
        }
    }
}

#[test]
fn garbage_is_refused() {
    let garbage = [
        "",
        " ",
        "\n",
        "hello world",
        "[",
        "\"",
        "{",
        "- - [] \"\" - - \"\" \"\"",
        "127.0.0.1 - - [99/Zzz/2000:99:99:99 +9999] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" abc 1 \"-\" \"-\"",
        "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"unterminated",
        "\u{0}\u{1}\u{2}\u{7f}é漢字🙂",
        "\\\\\\\\\\\"\\\"",
    ];
    for line in garbage {
        for format in Format::ALL {
            let error = refused(format, line);
            assert_eq!(error.format, format.name());
        }
    }
}

#[test]
fn bytes_cycled_through_every_sample_never_panic() {
    // A cheap stand-in for fuzzing: each sample with one byte replaced by each
    // delimiter the scanners look for.
    for (format, line) in samples() {
        for at in 0..line.len() {
            for replacement in [" ", "\"", "[", "]", "\\", "/", ":", "-", "{", "}", "?", ""] {
                if let (Some(head), Some(tail)) = (line.get(..at), line.get(at + 1..)) {
                    let mutated = format!("{head}{replacement}{tail}");
                    if let Ok(parsed) = format.parse_line(&mutated) {
                        assert_no_placeholders(format, &mutated, &parsed.attributes);
                    }
                }
            }
        }
    }
}

#[test]
fn parse_sets_attributes_and_time_and_keeps_the_body() {
    let mut entry = Entry::from_line(NGINX[0].to_owned(), 42);
    entry.record.attributes.push(KeyValue {
        key: "log.file.name".into(),
        value: Some(string_value("access.log")),
        ..Default::default()
    });
    entry.record.attributes.push(KeyValue {
        key: "http.response.status_code".into(),
        value: Some(string_value("stale")),
        ..Default::default()
    });
    Format::NginxCombined.parse(&mut entry).unwrap();
    assert_eq!(entry.body_text(), Some(NGINX[0]));
    assert_eq!(entry.record.time_unix_nano, OCT_10_2000);
    assert_eq!(entry.record.observed_time_unix_nano, 42);
    let got = actual(&entry.record.attributes);
    assert_eq!(
        got.iter()
            .filter(|(k, _)| k == "http.response.status_code")
            .collect::<Vec<_>>(),
        [&("http.response.status_code".to_owned(), V::I(200))]
    );
    assert!(got.contains(&("log.file.name".to_owned(), s("access.log"))));
    assert_eq!(got.len(), 9);
}

#[test]
fn a_refused_line_leaves_the_entry_as_it_was() {
    let mut entry = Entry::from_line("not an access log".to_owned(), 42);
    let before = entry.clone();
    let error = Format::NginxCombined.parse(&mut entry).unwrap_err();
    assert_eq!(entry, before);
    assert_eq!(
        error.to_string(),
        "not a nginx_combined line: no [time] after the client address (at byte 4)"
    );

    let mut map_body = Entry::default();
    assert_eq!(
        Format::Envoy.parse(&mut map_body).unwrap_err().reason,
        "the body is not text"
    );
}

#[test]
fn names_round_trip_through_the_config() {
    for format in Format::ALL {
        let parsed: Format = serde_json::from_str(&format!("\"{}\"", format.name())).unwrap();
        assert_eq!(parsed, format);
    }
    assert!(serde_json::from_str::<Format>("\"nginx\"").is_err());
}

/// `cargo test --release --lib receivers::filelog::format::tests::nginx_speed -- --ignored --nocapture`
///
/// 2026-12-02, the shared 2-core development machine: 770–840 ns a line (about
/// 1.2 million lines/s on one core), `Entry::from_line` and its copy of the line included.
#[test]
#[ignore = "a measurement, not a check: run in release"]
fn nginx_speed() {
    let lines: Vec<String> = (0..1000).map(|i| NGINX[0].replace("2326", &i.to_string())).collect();
    let rounds = 500;
    let started = std::time::Instant::now();
    let mut attributes = 0;
    for _ in 0..rounds {
        for line in &lines {
            let mut entry = Entry::from_line(line.clone(), 0);
            Format::NginxCombined.parse(&mut entry).unwrap();
            attributes += entry.record.attributes.len();
        }
    }
    let elapsed = started.elapsed();
    let per_line = elapsed.as_nanos() as f64 / (rounds * lines.len()) as f64;
    println!(
        "nginx_combined: {per_line:.0} ns/line ({:.0} lines/s), {attributes} attributes",
        1e9 / per_line
    );
}

fn seed_directory() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/filelog_format")
}

/// Writes every sample as a seed of the `filelog_format` fuzz target: byte 0
/// is the format's place in [`Format::ALL`], the rest the line.
/// `cargo test --lib receivers::filelog::format::tests::write_fuzz_seeds -- --ignored`
#[test]
#[ignore = "writes fuzz/corpus/filelog_format"]
fn write_fuzz_seeds() {
    let directory = seed_directory();
    std::fs::create_dir_all(&directory).unwrap();
    for (number, (format, line)) in samples().into_iter().enumerate() {
        let selector = Format::ALL.iter().position(|known| *known == format).unwrap() as u8;
        let mut seed = vec![selector];
        seed.extend_from_slice(line.as_bytes());
        std::fs::write(directory.join(format!("seed-{number:02}")), seed).unwrap();
    }
}

#[test]
fn fuzz_seeds_pass_the_fuzz_checks() {
    let mut seeds = 0;
    for file in std::fs::read_dir(seed_directory()).unwrap() {
        let data = std::fs::read(file.unwrap().path()).unwrap();
        super::fuzzing::check(&data);
        seeds += 1;
    }
    assert!(seeds >= samples().len(), "{seeds} seeds");
    // And every sample, as every format.
    for (_, line) in samples() {
        for selector in 0..Format::ALL.len() as u8 {
            let mut data = vec![selector];
            data.extend_from_slice(line.as_bytes());
            super::fuzzing::check(&data);
        }
    }
}
