//! The `zpages` and `pprof` extensions and the `nop` receiver and exporter, on the
//! real binary.
//!
//! - zpages: after spans go through an OTLP receiver to an OTLP backend,
//!   `/debug/pipelinez` shows the pipeline with the receiver's accepted and the
//!   exporter's sent counts equal to what was sent; `/debug/servicez` lists the
//!   components.
//! - pprof: `/debug/pprof/profile?seconds=1` answers with a gzip'd
//!   `perftools.profiles.Profile` that decodes and has CPU samples with function
//!   names; a second profile at the same time is refused with 409, a bad `seconds`
//!   with 400; `save_to_file` leaves a profile of the whole run at shutdown.
//! - nop: a config with only the `nop` receiver and exporter validates and runs;
//!   the exporter counts what it drops as sent.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use integration_tests::payloads::trace_request;
use integration_tests::{free_port, poll_until, GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;

const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The parts of `perftools.profiles.Profile` (pprof's `profile.proto`) the test
/// reads; prost skips the other fields.
#[derive(Clone, PartialEq, Message)]
struct Profile {
    #[prost(message, repeated, tag = "1")]
    sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    sample: Vec<Sample>,
    #[prost(message, repeated, tag = "5")]
    function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    string_table: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ValueType {
    #[prost(int64, tag = "1")]
    r#type: i64,
    #[prost(int64, tag = "2")]
    unit: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    value: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct Function {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(int64, tag = "2")]
    name: i64,
}

/// Un-gzips and decodes a profile as `pprof` would, checking the gzip header first.
fn decode_profile(bytes: &[u8]) -> Profile {
    assert!(
        bytes.starts_with(&[0x1f, 0x8b]),
        "not gzip: {:02x?}",
        &bytes[..bytes.len().min(8)]
    );
    let mut protobuf = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut protobuf)
        .expect("the profile un-gzips");
    let profile = Profile::decode(protobuf.as_slice()).expect("the profile decodes as perftools.profiles.Profile");
    assert_eq!(
        profile.string_table.first().map(String::as_str),
        Some(""),
        "string_table[0] is \"\""
    );
    let text = |i: i64| profile.string_table.get(i as usize).cloned().unwrap_or_default();
    let types: Vec<String> = profile.sample_type.iter().map(|t| text(t.r#type)).collect();
    assert!(
        types.iter().any(|t| t == "cpu" || t == "samples"),
        "sample types {types:?}"
    );
    profile
}

/// The names of the functions a profile's samples are in.
fn function_names(profile: &Profile) -> Vec<String> {
    profile
        .function
        .iter()
        .filter_map(|f| profile.string_table.get(f.name as usize).cloned())
        .collect()
}

/// The value of figure `label` of component `id` in pipeline `pipeline` of a
/// `/debug/pipelinez` page, if the page shows one.
fn figure(page: &str, pipeline: &str, id: &str, label: &str) -> Option<f64> {
    let section = page.split(&format!("data-pipeline=\"{pipeline}\"")).nth(1)?;
    let section = section.split("</section>").next()?;
    let row = section.split(&format!("data-id=\"{id}\"")).nth(1)?;
    let row = row.split("</tr>").next()?;
    let value = row.split(&format!("data-figure=\"{label}\">")).nth(1)?;
    value.split('<').next()?.parse().ok()
}

async fn send_spans(ports: &SloopPorts, prefix: &str, n: usize) {
    let mut client = TraceServiceClient::connect(ports.grpc_url()).await.expect("connecting");
    client
        .export(trace_request(prefix, n))
        .await
        .expect("sloop accepts the spans");
}

async fn get(url: &str) -> (reqwest::StatusCode, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    (status, response.bytes().await.expect("reading the body").to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zpages_shows_live_figures_and_pprof_serves_cpu_profiles() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let (zpages, pprof) = (free_port(), free_port());
    let config = format!(
        "{receivers}\
exporters:
  otlp_grpc/backend:
    endpoint: 127.0.0.1:{backend}
    tls:
      insecure: true
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
  zpages:
    endpoint: 127.0.0.1:{zpages}
  pprof:
    endpoint: 127.0.0.1:{pprof}
service:
  extensions: [health_check, zpages, pprof]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_grpc/backend]
",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        backend = backend.port(),
        health = ports.health,
        telemetry = ports.telemetry,
    );
    let mut sloop = Sloop::start(&config, &ports).await;

    send_spans(&ports, "zpages-a", 4).await;
    send_spans(&ports, "zpages-b", 3).await;
    backend.wait_for_spans(7, DATA_TIMEOUT).await;
    let pipelinez = format!("http://127.0.0.1:{zpages}/debug/pipelinez");
    let url = &pipelinez;
    let page = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async move {
        let (_, body) = get(url).await;
        let page = String::from_utf8(body).expect("the page is UTF-8");
        let accepted = figure(&page, "traces", "otlp", "accepted");
        let sent = figure(&page, "traces", "otlp_grpc/backend", "sent");
        (accepted == Some(7.0) && sent == Some(7.0)).then_some(page)
    })
    .await;
    assert!(
        page.is_some(),
        "/debug/pipelinez never showed 7 accepted and 7 sent:\n{}\n{}",
        String::from_utf8_lossy(&get(&pipelinez).await.1),
        sloop.logs()
    );
    let page = page.unwrap_or_default();
    assert_eq!(figure(&page, "traces", "otlp", "refused"), Some(0.0), "{page}");
    assert_eq!(
        figure(&page, "traces", "otlp_grpc/backend", "send failed"),
        Some(0.0),
        "{page}"
    );

    let (status, body) = get(&format!("http://127.0.0.1:{zpages}/debug/servicez")).await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    for component in ["otlp", "otlp_grpc/backend", "health_check", "zpages", "pprof"] {
        assert!(
            body.contains(&format!("data-id=\"{component}\"")),
            "{component} not on servicez:\n{body}"
        );
    }

    let profile_url = |seconds: &str| format!("http://127.0.0.1:{pprof}/debug/pprof/profile?seconds={seconds}");
    let (status, body) = get(&profile_url("0")).await;
    assert_eq!(
        status,
        reqwest::StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&body)
    );

    // The first profile of a process also loads the symbols, which takes a while
    // in a debug build: a load sent now could be over before sampling begins.
    let (status, body) = get(&profile_url("1")).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    decode_profile(&body);

    // Two profiles at once, with spans flowing so that there is CPU to sample:
    // one is recorded, the other refused.
    let loading = Arc::new(AtomicBool::new(true));
    let load = tokio::spawn({
        let (ports, loading) = (ports, loading.clone());
        async move {
            let mut i = 0;
            while loading.load(Ordering::Relaxed) {
                send_spans(&ports, &format!("load-{i}"), 200).await;
                i += 1;
            }
        }
    });
    let one_second = profile_url("1");
    let (first, second) = tokio::join!(get(&one_second), get(&one_second));
    loading.store(false, Ordering::Relaxed);
    load.await.expect("the load task");
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [reqwest::StatusCode::OK, reqwest::StatusCode::CONFLICT],
        "one profile at a time"
    );
    let recorded = if first.0 == reqwest::StatusCode::OK {
        first.1
    } else {
        second.1
    };
    let profile = decode_profile(&recorded);
    assert!(!profile.sample.is_empty(), "no samples in a second of sending spans");
    let names = function_names(&profile);
    assert!(
        names.iter().any(|n| n.contains("sloop") || n.contains("tokio")),
        "no sloop or tokio function among {} names: {:?}",
        names.len(),
        &names[..names.len().min(20)]
    );
    // Free again once it is done.
    let (status, _) = get(&profile_url("abc")).await;
    assert_eq!(
        status,
        reqwest::StatusCode::BAD_REQUEST,
        "checked before the profiler is taken"
    );
    let (status, body) = get(&profile_url("1")).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{}", String::from_utf8_lossy(&body));

    sloop.sigterm();
    assert!(sloop.wait_exit(EXIT_TIMEOUT).await.success(), "{}", sloop.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nop_receiver_and_exporter_run_and_pprof_saves_the_whole_run() {
    let ports = SloopPorts::new();
    let pprof = free_port();
    let dir = integration_tests::unique_temp_dir();
    let saved = dir.join("cpu.pprof");
    let config = format!(
        "{receivers}  nop:
exporters:
  nop:
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
  pprof:
    endpoint: 127.0.0.1:{pprof}
    save_to_file: {saved}
service:
  extensions: [health_check, pprof]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  pipelines:
    traces:
      receivers: [nop, otlp]
      exporters: [nop]
    metrics:
      receivers: [nop]
      exporters: [nop]
    logs:
      receivers: [nop]
      exporters: [nop]
",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        health = ports.health,
        telemetry = ports.telemetry,
        saved = saved.display(),
    );
    let mut validate = Sloop::spawn(&["validate"], &[&config]);
    let status = validate.wait_exit(EXIT_TIMEOUT).await;
    assert!(status.success(), "validate: {status}\n{}", validate.logs());

    let mut sloop = Sloop::start(&config, &ports).await;
    send_spans(&ports, "nop", 5).await;
    let running = &sloop;
    let counted = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async move {
        let sent = running
            .metric("otelcol_exporter_sent_spans", &[("exporter", "nop")])
            .await;
        (sent == 5.0).then_some(())
    })
    .await;
    assert!(counted.is_some(), "the nop exporter did not count 5 spans as sent");
    // The whole run is being recorded: no other profile now.
    let (status, _) = get(&format!("http://127.0.0.1:{pprof}/debug/pprof/profile?seconds=1")).await;
    assert_eq!(status, reqwest::StatusCode::CONFLICT);

    sloop.sigterm();
    assert!(sloop.wait_exit(EXIT_TIMEOUT).await.success(), "{}", sloop.logs());
    let bytes = std::fs::read(&saved).unwrap_or_else(|e| panic!("reading {}: {e}", saved.display()));
    decode_profile(&bytes);
    remove_dir(&dir);
}

fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
