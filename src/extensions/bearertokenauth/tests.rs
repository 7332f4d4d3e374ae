use std::sync::Arc;

use figment::providers::Format;

use super::*;
use crate::component::Pressure;

pub(crate) fn context() -> ExtensionContext {
    ExtensionContext {
        ready: Arc::default(),
        memory_pressure: Arc::new(Pressure::default()),
        storage_pressure: Arc::new(Pressure::default()),
        view: Arc::default(),
    }
}

fn config(yaml: &str) -> Result<BearerTokenAuthConfig, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    parse_block::<BearerTokenAuthConfig>(&RawValue::from(dict))
}

fn build(yaml: &str) -> BearerTokenAuth {
    let config = config(yaml).unwrap();
    let header = http::HeaderName::from_bytes(config.header.as_bytes()).unwrap();
    BearerTokenAuth {
        id: ComponentId::parse("bearertokenauth").unwrap(),
        filename: config.filename.clone(),
        tokens: Arc::new(Tokens {
            scheme: config.scheme.clone(),
            header,
            current: RwLock::new(Arc::new(config.inline_tokens())),
        }),
        check_interval: Duration::from_millis(20),
        stop: Mutex::new(None),
    }
}

fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

async fn accepts(auth: &BearerTokenAuth, pairs: &[(&str, &str)]) -> Result<(), String> {
    let server = auth.server_authenticator().unwrap();
    server.authenticate(&headers(pairs)).await.map(|_| ()).map_err(|e| e.0)
}

#[tokio::test]
async fn only_the_right_token_with_the_scheme_passes() {
    let auth = build("token: s3cret-token-1\ntokens: [other-token-2]\n");
    accepts(&auth, &[("authorization", "Bearer s3cret-token-1")])
        .await
        .unwrap();
    accepts(&auth, &[("authorization", "Bearer other-token-2")])
        .await
        .unwrap();
    for wrong in [
        "Bearer s3cret-token-",
        "Bearer s3cret-token-12",
        "s3cret-token-1",
        "Basic s3cret-token-1",
    ] {
        let error = accepts(&auth, &[("authorization", wrong)]).await.unwrap_err();
        assert!(!error.contains("s3cret"), "the refusal shows no token: {error}");
    }
    let missing = accepts(&auth, &[]).await.unwrap_err();
    assert!(missing.contains("missing authorization header"), "{missing}");
}

#[tokio::test]
async fn scheme_and_header_are_configurable() {
    let auth = build("scheme: \"\"\ntoken: abc\nheader: X-Api-Key\n");
    accepts(&auth, &[("x-api-key", "abc")]).await.unwrap();
    assert!(accepts(&auth, &[("authorization", "abc")]).await.is_err());
    let client = auth.client_authenticator().unwrap();
    let changes = client.headers(None).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].name, "x-api-key");
    assert_eq!(changes[0].value, "abc");
}

#[tokio::test]
async fn the_client_sends_scheme_and_first_token() {
    let auth = build("tokens: [one, two]\n");
    let changes = auth.client_authenticator().unwrap().headers(None).await.unwrap();
    assert_eq!(changes[0].name, "authorization");
    assert_eq!(changes[0].value, "Bearer one");
    assert!(changes[0].value.is_sensitive());
}

#[test]
fn config_errors_name_the_key_and_never_the_token() {
    let errors = |yaml: &str| -> Vec<String> { config(yaml).unwrap_err().iter().map(|e| e.to_string()).collect() };
    assert_eq!(
        errors("scheme: Bearer\n"),
        vec!["token: missing: set token, tokens or filename"]
    );
    let both = errors("token: abc\nfilename: /tmp/x\n");
    assert!(both[0].starts_with("filename: set either filename"), "{both:?}");
    let bad = errors("token: \"bad\\u0001tok\"\ntokens: [\"\"]\nheader: \"a b\"\n");
    assert!(bad.iter().any(|e| e.starts_with("token: is not valid")), "{bad:?}");
    assert!(bad.iter().any(|e| e == "tokens[0]: must not be empty"), "{bad:?}");
    assert!(bad.iter().any(|e| e.starts_with("header:")), "{bad:?}");
    assert!(bad.iter().all(|e| !e.contains("bad")), "{bad:?}");
    let debug = format!("{:?}", config("token: very-secret\ntokens: [also-secret]\n").unwrap());
    assert!(!debug.contains("secret"), "{debug}");
}

fn temp_file(label: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "sloop-bearer-{label}-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ))
}

/// Polls `check` every 10 ms for up to 5 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 5s: {what}");
}

#[tokio::test]
async fn a_changed_file_replaces_the_token_and_a_bad_one_keeps_it() {
    let path = temp_file("reload");
    std::fs::write(&path, "first-token\n").unwrap();
    let auth = build(&format!("filename: {}\n", path.display()));
    assert!(
        accepts(&auth, &[("authorization", "Bearer first-token")])
            .await
            .is_err(),
        "nothing before start"
    );
    auth.start().await.unwrap();
    accepts(&auth, &[("authorization", "Bearer first-token")])
        .await
        .unwrap();

    std::fs::write(&path, "second-token-longer\n").unwrap();
    eventually("the new token is used", async || {
        accepts(&auth, &[("authorization", "Bearer second-token-longer")])
            .await
            .is_ok()
    })
    .await;
    assert!(accepts(&auth, &[("authorization", "Bearer first-token")])
        .await
        .is_err());

    // Emptied, then removed: the last good token stays.
    std::fs::write(&path, "  \n").unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    accepts(&auth, &[("authorization", "Bearer second-token-longer")])
        .await
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    accepts(&auth, &[("authorization", "Bearer second-token-longer")])
        .await
        .unwrap();

    std::fs::write(&path, "third\n").unwrap();
    eventually("a file that comes back is read", async || {
        accepts(&auth, &[("authorization", "Bearer third")]).await.is_ok()
    })
    .await;
    auth.shutdown().await;
    auth.shutdown().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_missing_file_fails_start_with_its_path() {
    let path = temp_file("missing");
    let auth = build(&format!("filename: {}\n", path.display()));
    let error = auth.start().await.unwrap_err().to_string();
    assert!(error.contains(&path.display().to_string()), "{error}");
    let built = config("token: x\n")
        .unwrap()
        .build(&ComponentId::parse("bearertokenauth").unwrap(), &context());
    assert!(built.is_ok());
}
