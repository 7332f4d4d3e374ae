use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use figment::providers::Format;

use super::*;
use crate::extensions::bearertokenauth::tests::context;

fn config(yaml: &str) -> Result<OAuth2ClientConfig, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    parse_block::<OAuth2ClientConfig>(&RawValue::from(dict))
}

/// A token endpoint on a free loopback port: checks the client's credentials and
/// form, counts requests, issues `token-<n>` valid for `expires_in` seconds.
struct TokenEndpoint {
    url: String,
    requests: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TokenEndpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn token_endpoint(expires_in: u64) -> TokenEndpoint {
    let requests = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/token",
            post(
                move |State(requests): State<Arc<AtomicUsize>>, headers: HeaderMap, body: String| async move {
                    use base64::Engine;
                    let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
                    let expected = format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode("the-client:the-secret")
                    );
                    let form_ok = body.contains("grant_type=client_credentials")
                        && body.contains("scope=a+b")
                        && body.contains("audience=x");
                    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) || !form_ok
                    {
                        return (StatusCode::UNAUTHORIZED, r#"{"error":"invalid_client"}"#.to_string());
                    }
                    (
                        StatusCode::OK,
                        format!(r#"{{"access_token":"token-{n}","token_type":"Bearer","expires_in":{expires_in}}}"#),
                    )
                },
            ),
        )
        .with_state(requests.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TokenEndpoint { url, requests, server }
}

fn client(url: &str, secret: &str, expiry_buffer: &str) -> Arc<dyn ClientAuthenticator> {
    let yaml = format!(
        "client_id: the-client\nclient_secret: {secret}\ntoken_url: {url}\nscopes: [a, b]\nendpoint_params: {{audience: x}}\nexpiry_buffer: {expiry_buffer}\n"
    );
    config(&yaml)
        .unwrap()
        .build(&ComponentId::parse("oauth2client").unwrap(), &context())
        .unwrap()
        .client_authenticator()
        .unwrap()
}

async fn authorization(auth: &Arc<dyn ClientAuthenticator>) -> Result<String, ClientAuthError> {
    let changes = auth.headers(None).await?;
    Ok(changes[0].value.to_str().unwrap().to_string())
}

#[tokio::test]
async fn a_token_is_fetched_once_and_renewed_before_it_expires() {
    let endpoint = token_endpoint(2).await;
    // Renewed 1s before its 2s run out.
    let auth = client(&endpoint.url, "the-secret", "1s");
    assert_eq!(authorization(&auth).await.unwrap(), "Bearer token-1");
    assert_eq!(authorization(&auth).await.unwrap(), "Bearer token-1");
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(authorization(&auth).await.unwrap(), "Bearer token-2");
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_refused_fetch_is_a_retryable_error_without_the_secret() {
    let endpoint = token_endpoint(60).await;
    let auth = client(&endpoint.url, "wrong-s3cret", "0s");
    let error = authorization(&auth).await.unwrap_err();
    assert!(error.retryable);
    assert!(
        error.message.contains("401") && error.message.contains("invalid_client"),
        "{error}"
    );
    assert!(!error.message.contains("s3cret"), "{error}");
    let url = endpoint.url.clone();
    drop(endpoint);
    let down = client(&url, "the-secret", "0s");
    let error = authorization(&down).await.unwrap_err();
    assert!(error.retryable && error.message.contains(&url), "{error}");
}

#[test]
fn config_errors_and_debug_show_no_secret() {
    let errors: Vec<String> = config("token_url: ftp://x\ntimeout: 0s\n")
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    for expected in ["client_id: missing", "client_secret: missing", "token_url:", "timeout:"] {
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "{expected}: {errors:#?}"
        );
    }
    let debug = format!(
        "{:?}",
        config("client_id: a\nclient_secret: hunter2-secret\ntoken_url: http://localhost:1/t\n").unwrap()
    );
    assert!(!debug.contains("hunter2"), "{debug}");
}
