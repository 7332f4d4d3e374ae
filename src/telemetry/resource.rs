//! The resource of sloop's self-telemetry, as the Collector builds it: `service.name`,
//! `service.version` and a random `service.instance.id`, then
//! `service.telemetry.resource` (which adds attributes, overrides these, or removes
//! one with a null value).

use std::collections::BTreeMap;

use crate::config::AttributeText;

/// The resource attributes, sorted by key.
pub fn resource_attributes(configured: &BTreeMap<String, Option<AttributeText>>) -> Vec<(String, String)> {
    let mut attributes = BTreeMap::from([
        ("service.name".to_string(), "sloop".to_string()),
        ("service.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("service.instance.id".to_string(), random_uuid()),
    ]);
    for (key, value) in configured {
        match value {
            Some(AttributeText(text)) => attributes.insert(key.clone(), text.clone()),
            None => attributes.remove(key),
        };
    }
    attributes.into_iter().collect()
}

/// A random (version 4) UUID, as the Collector's `service.instance.id`. Written out
/// rather than adding the `uuid` crate for this one string: `rand` is already here.
fn random_uuid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_attributes_add_override_and_remove_defaults() {
        let configured = BTreeMap::from([
            ("deployment.environment".to_string(), Some(AttributeText("prod".into()))),
            ("service.name".to_string(), Some(AttributeText("gateway".into()))),
            ("service.instance.id".to_string(), None),
        ]);
        let attributes: BTreeMap<_, _> = resource_attributes(&configured).into_iter().collect();
        assert_eq!(attributes["deployment.environment"], "prod");
        assert_eq!(attributes["service.name"], "gateway");
        assert_eq!(attributes["service.version"], env!("CARGO_PKG_VERSION"));
        assert!(!attributes.contains_key("service.instance.id"));
    }

    #[test]
    fn instance_ids_are_version_4_uuids() {
        let id = random_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, random_uuid());
    }
}
