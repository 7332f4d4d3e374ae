# sloop's container image: build the release binary with the Rust toolchain, then
# run it alone on a minimal non-root base.
#
#   docker build -t sloop .
#   docker run -v "$PWD/my-config.yaml:/etc/sloop/config.yaml:ro" -p 4317:4317 sloop
#
# There is no HEALTHCHECK: Kubernetes probes the health_check extension
# (/livez, /readyz on :13133) instead, as the Helm chart in charts/sloop does.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# .dockerignore keeps target/, .git and the deploy files out of the context.
COPY . .
# --locked: the image gets exactly the dependency versions CI tested. jemalloc as the
# allocator: against glibc's malloc it cut CPU per span by a quarter at the same RSS
# (BENCHMARKS.md, "Allocators, measured").
RUN cargo build --release --locked --bin sloop --features jemalloc

# cc-debian12 = glibc + libgcc_s (the binary's only shared libraries) + CA
# certificates for TLS to vendors; no shell, no package manager. The :nonroot tag
# runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /src/target/release/sloop /usr/local/bin/sloop
USER 65532:65532
# OTLP gRPC, OTLP HTTP, self-metrics (Prometheus), health_check.
EXPOSE 4317 4318 8888 13133
ENTRYPOINT ["/usr/local/bin/sloop"]
# Mount the config here (the Helm chart mounts its ConfigMap at /etc/sloop).
CMD ["--config", "/etc/sloop/config.yaml"]
