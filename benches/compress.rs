//! What compressing one exported batch costs: 8192 spans from the load generator
//! (`src/loadgen`), encoded as the OTLP exporters send them, compressed with gzip
//! (flate2, whichever backend the build selects) and zstd at several levels.
//!
//! `cargo bench --bench compress` runs criterion. For instruction counts, which
//! are stable on a noisy machine where wall-clock time is not:
//!
//! ```text
//! cargo bench --bench compress --no-run
//! SLOOP_COMPRESS_ONCE=gzip:1 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/deps/compress-<hash>
//! ```
//!
//! With `SLOOP_COMPRESS_ONCE=<gzip|zstd>:<level>` the binary builds the batch,
//! compresses it once, prints the sizes and exits; comparing that run's total
//! against `SLOOP_COMPRESS_ONCE=none:0` (building the batch only) isolates the
//! compression.
//! `SLOOP_COMPRESS_DUMP=<file>` writes the batch (3,045,715 bytes of protobuf)
//! and exits, for measuring compressors outside sloop.
//!
//! Measured on that batch (2026-12-02, x86-64 with AVX2), gzip through flate2
//! 1.1.11 in a standalone release program (`GzEncoder`, `write_all`, `finish`),
//! `valgrind --tool=callgrind <program> batch.pb <level>`, instructions in total:
//!
//! | backend                          | level 1           | level 6            |
//! |----------------------------------|-------------------|--------------------|
//! | miniz_oxide (flate2's default)   | 69.5M, 457,393 B  | 245.5M, 327,552 B  |
//! | zlib-rs, no runtime detection    | 56.9M, 434,354 B  | 159.3M, 329,009 B  |
//! | zlib-rs + `runtime_detection`    | 36.5M, 434,354 B  | 140.5M, 329,009 B  |
//!
//! Before this, the gRPC exporter compressed with tonic at level 6 on miniz_oxide
//! (245.5M) and the HTTP exporter at level 1 (69.5M), each on every attempt.

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use rand::SeedableRng;
use sloop::exporters::{Compression, CompressionParams};
use sloop::loadgen::generate::{Operation, RequestPool, TrafficShape};
use sloop::loadgen::latency::LatencyDistribution;

const SPANS: usize = 8192;

/// One request of 8192 spans in traces of 10, 20 services' worth of operations.
fn batch() -> Vec<u8> {
    let shape = TrafficShape {
        services: 20,
        operations: [
            "GET /api/items",
            "POST /checkout",
            "GET /",
            "GET /api/users/{id}",
            "PUT /cart",
        ]
        .iter()
        .map(|o| Operation::parse(o))
        .collect(),
        spans_per_request: SPANS,
        spans_per_trace: 10,
        error_ratio: 0.02,
        latency: LatencyDistribution::from_percentiles(50.0, 300.0),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let pool = RequestPool::build(&shape, 1, &mut rng).expect("a valid shape");
    let now = 1_764_000_000_000_000_000;
    pool.request(0, now).0.to_vec()
}

fn compress(c: &mut Criterion) {
    let body = batch();
    let mut group = c.benchmark_group("compress_8192_spans");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(20);
    for (compression, level) in [
        (Compression::Gzip, 1),
        (Compression::Gzip, 6),
        (Compression::Zstd, 1),
        (Compression::Zstd, 3),
    ] {
        let params = CompressionParams { level: Some(level) };
        let name = format!("{compression:?}");
        group.bench_with_input(BenchmarkId::new(name, level), &body, |b, body| {
            b.iter(|| sloop::exporters::compress(compression, &params, body).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, compress);

fn main() {
    // The batch, for measuring compressors outside this program.
    if let Ok(path) = std::env::var("SLOOP_COMPRESS_DUMP") {
        std::fs::write(&path, batch()).expect("writing the batch");
        return;
    }
    if let Ok(spec) = std::env::var("SLOOP_COMPRESS_ONCE") {
        let (kind, level) = spec
            .split_once(':')
            .expect("SLOOP_COMPRESS_ONCE=<gzip|zstd|none>:<level>");
        let level: i32 = level.parse().expect("a level");
        let body = batch();
        let compression = match kind {
            "gzip" => Compression::Gzip,
            "zstd" => Compression::Zstd,
            _ => {
                println!("batch: {} bytes, not compressed", body.len());
                return;
            }
        };
        let params = CompressionParams { level: Some(level) };
        let out = sloop::exporters::compress(compression, &params, &body).unwrap();
        println!("batch: {} bytes, {kind} level {level}: {} bytes", body.len(), out.len());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
