use figment::providers::Format;

use super::*;
use crate::component::auth::apply_header_changes;
use crate::extensions::bearertokenauth::tests::context;

fn config(yaml: &str) -> Result<HeadersSetterConfig, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    parse_block::<HeadersSetterConfig>(&RawValue::from(dict))
}

async fn headers_for(
    yaml: &str,
    client: Option<&ClientInfo>,
    before: &[(&'static str, &'static str)],
) -> http::HeaderMap {
    let extension = config(yaml)
        .unwrap()
        .build(&ComponentId::parse("headers_setter").unwrap(), &context())
        .unwrap();
    let changes = extension.client_authenticator().unwrap().headers(client).await.unwrap();
    let mut headers: http::HeaderMap = before
        .iter()
        .map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v)))
        .collect();
    apply_header_changes(&changes, &mut headers);
    headers
}

fn client(pairs: &[(&'static str, &'static str)]) -> ClientInfo {
    let headers: http::HeaderMap = pairs
        .iter()
        .map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v)))
        .collect();
    ClientInfo::new(
        ClientInfo::metadata_from(&headers),
        [("username".to_string(), "alice".to_string())].into(),
    )
}

#[tokio::test]
async fn from_context_copies_metadata_and_falls_back_to_the_default() {
    let yaml = "headers:\n  - {key: X-Scope-OrgID, from_context: x-tenant, default_value: anon}\n  - {key: x-user, from_context: auth.username}\n  - {key: x-fixed, value: v}\n";
    let tenant = client(&[("x-tenant", "acme")]);
    let headers = headers_for(yaml, Some(&tenant), &[]).await;
    assert_eq!(headers["x-scope-orgid"], "acme");
    assert_eq!(headers["x-user"], "alice");
    assert_eq!(headers["x-fixed"], "v");
    let headers = headers_for(yaml, None, &[]).await;
    assert_eq!(headers["x-scope-orgid"], "anon");
    assert!(!headers.contains_key("x-user"), "no default, no metadata: not set");
    let metadata_prefix = "headers: [{key: x-t, from_context: metadata.x-tenant}]\n";
    assert_eq!(headers_for(metadata_prefix, Some(&tenant), &[]).await["x-t"], "acme");
}

#[tokio::test]
async fn actions_apply_to_the_exporters_headers() {
    let yaml = "headers:\n  - {key: a, value: new, action: insert}\n  - {key: b, value: new, action: update}\n  - {key: c, action: delete}\n  - {key: d, value: new, action: update}\n";
    let headers = headers_for(yaml, None, &[("a", "old"), ("b", "old"), ("c", "old")]).await;
    assert_eq!(headers["a"], "old");
    assert_eq!(headers["b"], "new");
    assert!(!headers.contains_key("c"));
    assert!(!headers.contains_key("d"));
}

#[test]
fn config_errors_name_the_entry() {
    let errors: Vec<String> = config(
        "headers:\n  - {key: \"bad key\", value: v}\n  - {key: a}\n  - {key: b, value: v, from_context: x}\n  - {key: c, action: delete, value: v}\n  - {key: d, value: v, default_value: w}\n",
    )
    .unwrap_err()
    .iter()
    .map(|e| e.to_string())
    .collect();
    for expected in [
        "headers[0].key:",
        "headers[1].value: missing",
        "headers[2].value: set either",
        "headers[3].action:",
        "headers[4].default_value:",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "{expected}: {errors:#?}"
        );
    }
}
