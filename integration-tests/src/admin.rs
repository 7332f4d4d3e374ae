//! Reading sloop's admin server (`service.telemetry.metrics.address`): the JSON
//! status API and the pages, over plain HTTP on loopback.

use std::time::Duration;

use crate::SloopPorts;

/// A client for loopback: no proxy from the environment, and a bound on every request.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("building a reqwest client")
}

/// The admin server's base URL, `http://127.0.0.1:<telemetry port>`.
pub fn admin_url(ports: &SloopPorts) -> String {
    format!("http://127.0.0.1:{}", ports.telemetry)
}

/// `GET url`, as its status and its body; panics (failing the test) naming the URL
/// when the request fails.
pub async fn get_text(url: &str) -> (reqwest::StatusCode, String) {
    let response = http_client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let body = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading GET {url}: {e}"));
    (status, body)
}

/// `GET url`, as its status and its body parsed as JSON; panics (failing the test)
/// naming the URL when the request fails or the body is not JSON.
pub async fn get_json(url: &str) -> (reqwest::StatusCode, serde_json::Value) {
    let (status, body) = get_text(url).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url} is not JSON ({e}): {body}"));
    (status, json)
}
