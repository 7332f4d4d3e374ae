//! An objective's status as the typed API's message ([`crate::api::v1::SloStatus`],
//! served by the admin server's gRPC service) and back (for `sloop slo status
//! --json`, which prints what `GET /api/v1/slos` serves).
//!
//! The two carry the same fields, so the round trip is lossless: a status converted
//! to the message and back serializes to the same JSON.

use crate::api::v1 as api;

use super::status::{Alerts, Figures, GroupStatus, SloStatus};

impl From<&SloStatus> for api::SloStatus {
    fn from(status: &SloStatus) -> Self {
        let f = &status.figures;
        api::SloStatus {
            name: status.name.clone(),
            sli: status.sli.clone(),
            target: status.target,
            window: status.window.clone(),
            total: f.total,
            good: f.good,
            bad: f.bad,
            allowed_bad: f.allowed_bad,
            error_budget_remaining: f.error_budget_remaining,
            burn_rates: f.burn_rates.clone(),
            exhaustion_seconds: f.exhaustion_seconds,
            alerts: Some(alerts_message(f.alerts)),
            worst_groups: status.worst_groups.iter().map(api::GroupStatus::from).collect(),
            paging_groups: status.paging_groups as u64,
        }
    }
}

impl From<&GroupStatus> for api::GroupStatus {
    fn from(group: &GroupStatus) -> Self {
        let f = &group.figures;
        api::GroupStatus {
            group: group.group.clone(),
            total: f.total,
            good: f.good,
            bad: f.bad,
            allowed_bad: f.allowed_bad,
            error_budget_remaining: f.error_budget_remaining,
            burn_rates: f.burn_rates.clone(),
            exhaustion_seconds: f.exhaustion_seconds,
            alerts: Some(alerts_message(f.alerts)),
        }
    }
}

/// A message from the network: absent alerts read as none firing, and a
/// `paging_groups` beyond `usize` (only a 32-bit client could see one) saturates.
impl From<api::SloStatus> for SloStatus {
    fn from(status: api::SloStatus) -> Self {
        SloStatus {
            name: status.name,
            sli: status.sli,
            target: status.target,
            window: status.window,
            figures: Figures {
                total: status.total,
                good: status.good,
                bad: status.bad,
                allowed_bad: status.allowed_bad,
                error_budget_remaining: status.error_budget_remaining,
                burn_rates: status.burn_rates,
                exhaustion_seconds: status.exhaustion_seconds,
                alerts: alerts(status.alerts),
            },
            worst_groups: status.worst_groups.into_iter().map(GroupStatus::from).collect(),
            paging_groups: usize::try_from(status.paging_groups).unwrap_or(usize::MAX),
        }
    }
}

impl From<api::GroupStatus> for GroupStatus {
    fn from(group: api::GroupStatus) -> Self {
        GroupStatus {
            group: group.group,
            figures: Figures {
                total: group.total,
                good: group.good,
                bad: group.bad,
                allowed_bad: group.allowed_bad,
                error_budget_remaining: group.error_budget_remaining,
                burn_rates: group.burn_rates,
                exhaustion_seconds: group.exhaustion_seconds,
                alerts: alerts(group.alerts),
            },
        }
    }
}

fn alerts_message(alerts: Alerts) -> api::Alerts {
    api::Alerts {
        page: alerts.page,
        ticket: alerts.ticket,
    }
}

fn alerts(message: Option<api::Alerts>) -> Alerts {
    let message = message.unwrap_or_default();
    Alerts {
        page: message.page,
        ticket: message.ticket,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message;

    use super::*;

    fn figures(total: f64, bad: f64, exhaustion_seconds: Option<f64>, page: bool) -> Figures {
        let allowed_bad = 0.001 * total;
        Figures {
            total,
            good: total - bad,
            bad,
            allowed_bad,
            error_budget_remaining: if allowed_bad > 0.0 {
                1.0 - bad / allowed_bad
            } else {
                1.0
            },
            burn_rates: BTreeMap::from([
                ("5m".to_string(), 14.4 + 1e-12),
                ("1h".to_string(), 1.0 / 3.0),
                ("3d".to_string(), 0.0),
            ]),
            exhaustion_seconds,
            alerts: Alerts { page, ticket: !page },
        }
    }

    /// A status with every field set, groups included, and awkward doubles.
    fn full_status() -> SloStatus {
        SloStatus {
            name: "checkout-availability".into(),
            sli: "checkout".into(),
            target: 0.999,
            window: "calendar month".into(),
            figures: figures(1_000_000.5, 1234.25, Some(0.1 + 0.2), true),
            worst_groups: vec![
                GroupStatus {
                    group: BTreeMap::from([
                        ("cloud.region".to_string(), "us-east-1".to_string()),
                        ("app.version".to_string(), "1.4.2".to_string()),
                    ]),
                    figures: figures(3.0, 2.0, Some(0.0), true),
                },
                GroupStatus {
                    group: BTreeMap::from([("cloud.region".to_string(), String::new())]),
                    figures: figures(7e-300, 0.0, None, false),
                },
            ],
            paging_groups: 1,
        }
    }

    #[test]
    fn the_round_trip_through_the_message_is_lossless() {
        for status in [
            full_status(),
            SloStatus {
                worst_groups: Vec::new(),
                paging_groups: 0,
                figures: figures(0.0, 0.0, None, false),
                ..full_status()
            },
        ] {
            let message = api::SloStatus::from(&status);
            // Through the wire, as a client sees it.
            let decoded = api::SloStatus::decode(message.encode_to_vec().as_slice()).expect("decodes");
            assert_eq!(decoded, message);
            let back = SloStatus::from(decoded);
            assert_eq!(back, status);
            assert_eq!(
                serde_json::to_string(&back).expect("serializes"),
                serde_json::to_string(&status).expect("serializes"),
                "the CLI's JSON is the API's JSON"
            );
        }
    }

    /// Field for field: every JSON key of a status is a field of the message with
    /// the same value.
    #[test]
    fn the_message_has_every_json_field() {
        let status = full_status();
        let json = serde_json::to_value(&status).expect("serializes");
        let message = api::SloStatus::from(&status);
        let object = json.as_object().expect("an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "alerts",
                "allowed_bad",
                "bad",
                "burn_rates",
                "error_budget_remaining",
                "exhaustion_seconds",
                "good",
                "name",
                "paging_groups",
                "sli",
                "target",
                "total",
                "window",
                "worst_groups"
            ],
            "a new JSON field needs a field in proto/sloop/v1/slo.proto"
        );
        assert_eq!(json["total"], message.total);
        assert_eq!(json["error_budget_remaining"], message.error_budget_remaining);
        assert_eq!(json["exhaustion_seconds"], message.exhaustion_seconds.expect("set"));
        assert_eq!(json["alerts"]["page"], message.alerts.expect("set").page);
        assert_eq!(json["paging_groups"], message.paging_groups);
        assert_eq!(json["worst_groups"][0]["app.version"], serde_json::Value::Null);
        assert_eq!(json["worst_groups"][0]["group"]["app.version"], "1.4.2");
        assert_eq!(message.worst_groups[0].group["app.version"], "1.4.2");
        let mut group_keys: Vec<&str> = json["worst_groups"][0]
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        group_keys.sort_unstable();
        assert_eq!(
            group_keys,
            [
                "alerts",
                "allowed_bad",
                "bad",
                "burn_rates",
                "error_budget_remaining",
                "exhaustion_seconds",
                "good",
                "group",
                "total"
            ]
        );
    }

    /// What a client could send: no alerts message, a huge group count.
    #[test]
    fn a_sparse_message_converts_without_panicking() {
        let status = SloStatus::from(api::SloStatus {
            paging_groups: u64::MAX,
            ..Default::default()
        });
        assert_eq!(
            status.figures.alerts,
            Alerts {
                page: false,
                ticket: false
            }
        );
        assert!(status.paging_groups > 0);
    }
}
