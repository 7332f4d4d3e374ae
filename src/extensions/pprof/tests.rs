use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::{requested_duration, router, PprofConfig, Recording, MAX_SECONDS};
use crate::confmap::{parse_block, RawValue};

async fn get(path: &str) -> (StatusCode, String) {
    let response = router(CancellationToken::new())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn seconds_is_a_bounded_whole_number_defaulting_to_thirty() {
    assert_eq!(requested_duration(None), Ok(Duration::from_secs(30)));
    assert_eq!(requested_duration(Some("1")), Ok(Duration::from_secs(1)));
    assert_eq!(
        requested_duration(Some(&MAX_SECONDS.to_string())),
        Ok(Duration::from_secs(MAX_SECONDS))
    );
    for bad in ["0", "-1", "301", "1.5", "", "ten", "99999999999999999999999"] {
        let error = requested_duration(Some(bad)).unwrap_err();
        assert!(error.starts_with("seconds: "), "{bad:?}: {error}");
    }
}

#[tokio::test]
async fn a_bad_seconds_parameter_is_a_400_that_says_why() {
    for query in ["seconds=abc", "seconds=0", "seconds=100000", "seconds=%FF"] {
        let (status, body) = get(&format!("/debug/pprof/profile?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
    let (_, body) = get("/debug/pprof/profile?seconds=abc").await;
    assert!(body.contains("from 1 to 300"), "{body}");
}

#[tokio::test]
async fn a_second_profile_while_one_is_recorded_is_a_409() {
    let held = Recording::try_begin().expect("no other test records a profile");
    assert!(Recording::try_begin().is_none(), "one recording at a time");
    let (status, body) = get("/debug/pprof/profile?seconds=1").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    drop(held);
    let again = Recording::try_begin();
    assert!(again.is_some(), "the right to record comes back when a recording ends");
}

#[tokio::test]
async fn the_index_lists_the_profile_and_go_runtime_profiles_are_not_found() {
    let (status, body) = get("/debug/pprof/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("profile?seconds="), "{body}");
    let (status, body) = get("/debug/pprof/heap").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Go runtime"), "{body}");
    let (status, _) = get("/debug/pprof/cmdline").await;
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn go_only_fractions_are_refused_unless_zero() {
    let parse = |yaml: &str| {
        let dict: figment::value::Dict = figment::Figment::from(
            <serde_saphyr::figment::Yaml as figment::providers::Format>::string(yaml),
        )
        .extract()
        .unwrap();
        parse_block::<PprofConfig>(&RawValue::from(dict))
    };
    let errors = parse("block_profile_fraction: 3\nmutex_profile_fraction: 5\n").unwrap_err();
    let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["block_profile_fraction", "mutex_profile_fraction"]);
    assert!(errors[0].message.contains("Go runtime"), "{}", errors[0].message);
    let config = parse("block_profile_fraction: 0\nsave_to_file: /tmp/x.pprof\n").unwrap();
    assert_eq!(config.endpoint, "localhost:1777");
    assert_eq!(config.save_to_file.as_deref(), Some("/tmp/x.pprof"));
    assert!(parse("save_to_file: \"\"\n").is_err());
}
