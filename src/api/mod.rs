//! The project's own API: the `sloop.v1` messages and the `SloService` gRPC
//! service, generated at build time (`build.rs`) from `proto/sloop/v1/slo.proto`,
//! the API's reference (every message and field is documented there, and those
//! comments are the docs of the generated types).
//!
//! - [`v1::slo_service_server`]: the server side, which the admin server serves
//!   ([`crate::admin`]'s `grpc` module).
//! - [`v1::slo_service_client`]: the client, which `sloop slo status` and
//!   `sloop slo watch` use.
//!
//! Depends on nothing else in the crate: the slo processor converts its status into
//! [`v1::SloStatus`] and back (`processors::slo::api`).

/// `sloop.v1`: the SLO status service and its messages.
pub mod v1 {
    tonic::include_proto!("sloop.v1");
}
