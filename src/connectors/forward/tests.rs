use std::sync::Arc;

use super::FACTORY;
use crate::component::{ConsumeError, Consumer, Retry, Signal};
use crate::connectors::testing::{build, parse};
use crate::pdata::Telemetry;
use crate::testing::{span_names, traces, Recorder};

fn forward(outputs: &[(&str, Arc<dyn Consumer>)]) -> Arc<dyn crate::component::Processor> {
    let config = parse(&FACTORY, "").expect("an empty block parses");
    build(&*config, "forward", Signal::Traces, Signal::Traces, outputs).expect("builds")
}

#[tokio::test]
async fn every_output_pipeline_gets_its_own_copy_of_everything() {
    let (a, b) = (Recorder::new(), Recorder::new());
    let connector = forward(&[("traces/a", a.clone()), ("traces/b", b.clone())]);
    connector.start().await.unwrap();
    connector.consume(traces(&[&["x", "y"], &["z"]])).await.unwrap();
    connector.consume(traces(&[&["w"]])).await.unwrap();
    for output in [&a, &b] {
        assert_eq!(output.batch_sizes(), vec![3, 1]);
        let received = output.received.lock().unwrap();
        assert_eq!(span_names(&received[0]), ["x", "y", "z"]);
    }
    connector.shutdown().await;
    connector.shutdown().await;
}

#[tokio::test]
async fn a_refusal_from_any_output_goes_back_to_the_sender() {
    let (a, b) = (Recorder::new(), Recorder::new());
    *a.refuse.lock().unwrap() = Some(ConsumeError::retryable("queue full", None));
    let connector = forward(&[("traces/a", a.clone()), ("traces/b", b.clone())]);
    let error = connector.consume(traces(&[&["x"]])).await.unwrap_err();
    assert_eq!(error.message, "queue full");
    assert!(matches!(error.retry, Retry::After(_)), "the client is told to retry");
    assert_eq!(b.batch_sizes(), vec![1], "the other pipeline still got it");

    *a.refuse.lock().unwrap() = None;
    *b.refuse.lock().unwrap() = Some(ConsumeError::permanent("malformed"));
    let error = connector.consume(traces(&[&["y"]])).await.unwrap_err();
    assert_eq!(error.retry, Retry::Never);
}

#[tokio::test]
async fn empty_payloads_are_not_sent_on() {
    let a = Recorder::new();
    let connector = forward(&[("traces/a", a.clone())]);
    connector.consume(Telemetry::empty(Signal::Traces)).await.unwrap();
    assert!(a.batch_sizes().is_empty());
}

#[test]
fn it_joins_pipelines_of_one_signal_only_and_needs_an_output() {
    let config = parse(&FACTORY, "").unwrap();
    for signal in Signal::ALL {
        assert!(config.supports(signal, signal));
    }
    assert!(!config.supports(Signal::Traces, Signal::Metrics));
    let a: Arc<dyn Consumer> = Recorder::new();
    let error = build(&*config, "forward", Signal::Traces, Signal::Logs, &[("logs/a", a)])
        .err()
        .expect("refused");
    assert!(error.message.contains("cannot take traces and emit logs"), "{error}");
    let error = build(&*config, "forward/x", Signal::Logs, Signal::Logs, &[])
        .err()
        .expect("refused");
    assert!(error.message.contains("no logs pipeline lists forward/x"), "{error}");
}

#[test]
fn settings_are_refused_with_their_path() {
    let errors = parse(&FACTORY, "fanout: true").unwrap_err();
    assert!(errors[0].message.contains("unknown field"), "{errors:?}");
}
