use super::FACTORY;

#[test]
fn takes_no_keys() {
    let dict: figment::value::Dict = figment::Figment::from(
        <serde_saphyr::figment::Yaml as figment::providers::Format>::string("endpoint: x\n"),
    )
    .extract()
    .unwrap();
    let errors = (FACTORY.parse)(&crate::confmap::RawValue::from(dict)).unwrap_err();
    assert!(errors[0].to_string().contains("endpoint"), "{}", errors[0]);
}
