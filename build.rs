//! Generates the `sloop.v1` API (messages, the tonic server and client) from
//! `proto/sloop/v1/slo.proto` into `OUT_DIR`, for `src/api`.
//!
//! No `protoc` binary: `protox` (a protobuf compiler in Rust) parses the file into a
//! descriptor set, which `tonic-prost-build` turns into Rust.

use std::path::Path;

fn main() {
    let proto = Path::new("proto/sloop/v1/slo.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let descriptors = match protox::compile([proto.strip_prefix("proto").unwrap_or(proto)], ["proto"]) {
        Ok(descriptors) => descriptors,
        Err(error) => {
            // protox's error names the file, line and column.
            eprintln!("error: {error:?}");
            std::process::exit(1);
        }
    };
    if let Err(error) = tonic_prost_build::configure()
        // Maps as BTreeMap: ordered like the JSON API's, and comparable and
        // encodable in a stable order (the Watch compares statuses).
        .btree_map(".")
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)
    {
        eprintln!("error: generating the sloop.v1 API from {}: {error}", proto.display());
        std::process::exit(1);
    }
}
