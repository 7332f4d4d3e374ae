//! Generates a `sloop.v1` client from the same `proto/sloop/v1/slo.proto` sloop
//! serves, independently of sloop's own generated code: the tests talk to sloop as
//! any client of the published API would.

use std::path::Path;

fn main() {
    let include = Path::new("../proto");
    let file = "sloop/v1/slo.proto";
    println!("cargo:rerun-if-changed={}", include.join(file).display());
    let descriptors = match protox::compile([file], [include]) {
        Ok(descriptors) => descriptors,
        Err(error) => {
            eprintln!("error: {error:?}");
            std::process::exit(1);
        }
    };
    if let Err(error) = tonic_prost_build::configure()
        .btree_map(".")
        .build_server(false)
        .build_client(true)
        .compile_fds(descriptors)
    {
        eprintln!("error: generating the sloop.v1 client from ../proto/{file}: {error}");
        std::process::exit(1);
    }
}
