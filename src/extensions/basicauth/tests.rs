use std::sync::Arc;

use figment::providers::Format;

use super::*;
use crate::extensions::bearertokenauth::tests::context;

fn config(yaml: &str) -> Result<BasicAuthConfig, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    parse_block::<BasicAuthConfig>(&RawValue::from(dict))
}

fn errors(yaml: &str) -> Vec<String> {
    config(yaml).unwrap_err().iter().map(|e| e.to_string()).collect()
}

fn id() -> ComponentId {
    ComponentId::parse("basicauth").unwrap()
}

fn basic(user: &str, password: &str) -> http::HeaderMap {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
    );
    headers
}

/// A started server-side extension for `htpasswd_yaml` (the `htpasswd:` block).
async fn server(htpasswd_yaml: &str) -> Arc<dyn ServerAuthenticator> {
    let extension = config(htpasswd_yaml).unwrap().build(&id(), &context()).unwrap();
    extension.start().await.unwrap();
    extension.server_authenticator().unwrap()
}

#[tokio::test]
async fn bcrypt_users_pass_and_everything_else_is_refused() {
    let hash = bcrypt::hash("pa55word", 4).unwrap();
    let auth = server(&format!("htpasswd:\n  inline: |\n    # a comment\n    alice:{hash}\n")).await;
    let attributes = auth.authenticate(&basic("alice", "pa55word")).await.unwrap();
    assert_eq!(attributes["username"], "alice");
    // Again: answered from the remembered digest, same result.
    auth.authenticate(&basic("alice", "pa55word")).await.unwrap();
    for (user, password) in [
        ("alice", "pa55wor"),
        ("alice", "pa55word "),
        ("bob", "pa55word"),
        ("", ""),
    ] {
        let error = auth.authenticate(&basic(user, password)).await.unwrap_err();
        assert!(!error.0.contains("pa55"), "{error}");
    }
    assert!(auth.authenticate(&http::HeaderMap::new()).await.is_err());
    let mut bearer = http::HeaderMap::new();
    bearer.insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_static("Bearer abc"),
    );
    assert!(auth.authenticate(&bearer).await.is_err());
    let mut garbage = http::HeaderMap::new();
    garbage.insert(http::header::AUTHORIZATION, http::HeaderValue::from_static("Basic !!!"));
    assert!(auth.authenticate(&garbage).await.is_err());
}

#[tokio::test]
async fn the_file_adds_users_and_a_bad_file_fails_start_with_its_path() {
    let dir = std::env::temp_dir().join(format!(
        "sloop-basicauth-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("htpasswd");
    std::fs::write(&file, format!("carol:{}\n", bcrypt::hash("c-pass", 4).unwrap())).unwrap();
    let auth = server(&format!("htpasswd:\n  file: {}\n", file.display())).await;
    auth.authenticate(&basic("carol", "c-pass")).await.unwrap();

    std::fs::write(&file, "dave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n").unwrap();
    let extension = config(&format!("htpasswd:\n  file: {}\n", file.display()))
        .unwrap()
        .build(&id(), &context())
        .unwrap();
    let error = extension.start().await.unwrap_err().to_string();
    assert!(
        error.contains(&file.display().to_string()) && error.contains("line 1"),
        "{error}"
    );
    assert!(!error.contains("W6ph5"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_client_sends_basic_credentials() {
    let extension = config("client_auth:\n  username: agent\n  password: agent-pw\n")
        .unwrap()
        .build(&id(), &context())
        .unwrap();
    assert!(extension.server_authenticator().is_none());
    let changes = extension.client_authenticator().unwrap().headers(None).await.unwrap();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("agent:agent-pw")
    );
    assert_eq!(changes[0].value, expected.as_str());
    assert!(!format!("{changes:?}").contains(&expected));
}

#[test]
fn config_errors_name_the_key_and_show_no_secret() {
    assert_eq!(
        errors("{}"),
        vec!["htpasswd: missing: set htpasswd (a receiver's authenticator) or client_auth (an exporter's)"]
    );
    let both = errors("htpasswd: {inline: \"a:$2y$04$abc\"}\nclient_auth: {username: a, password: b}\n");
    assert!(
        both.iter().any(|e| e.starts_with("client_auth: set either")),
        "{both:?}"
    );
    let plain = errors("htpasswd:\n  inline: \"ok:plain-secret-pw\"\n");
    assert_eq!(plain.len(), 1, "{plain:?}");
    assert!(
        plain[0].starts_with("htpasswd.inline: line 1 (user \"ok\"): not a bcrypt hash"),
        "{plain:?}"
    );
    assert!(!plain[0].contains("plain-secret-pw"), "{plain:?}");
    let debug = format!(
        "{:?}",
        config("client_auth: {username: agent, password: hunter2-pw}\n").unwrap()
    );
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[tokio::test]
async fn the_example_user_verifies() {
    let auth = server(FACTORY.example.trim_start_matches("basicauth:\n")).await;
    auth.authenticate(&basic("agent", "agent-password")).await.unwrap();
}
