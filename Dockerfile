# syntax=docker/dockerfile:1
# One image per service: docker build --build-arg SERVICE=user-service -t ecommerce-user-service .
# (SERVICE is user-service, product-service or order-service.)
#
# Dependencies are compiled in a layer of their own with cargo-chef: its recipe holds only the
# manifests and Cargo.lock, so the slow layer (every crate from crates.io) is rebuilt only when a
# dependency changes, not when a source file does. cargo-chef rather than stub main.rs/lib.rs
# files: it derives the skeleton from the workspace itself (four crates, a bench declared with
# harness = false, whatever targets come next), so this file does not have to mirror each
# manifest, and it leaves no stale stub artifacts for cargo's mtime checks to trip over. Plain
# layers rather than BuildKit cache mounts, so the cache also works where builds run on fresh
# machines that keep only layers (CI, Render).
#
# The whole workspace is cooked and built in layers that do not depend on SERVICE, so building
# the three images compiles everything once; each image only copies its own binary.
ARG SERVICE

FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --workspace --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --workspace

# The runtime: Debian slim (glibc, bash for the health check; the MongoDB driver trusts its own
# compiled-in TLS roots, so no CA package is needed), a non-root user with a fixed uid that
# Kubernetes' runAsNonRoot can verify, and nothing else.
FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
COPY --chmod=0755 deploy/docker/healthcheck.sh /usr/local/bin/healthcheck
ENV HOST=0.0.0.0 \
    LOG_FORMAT=json
USER 10001:10001
# GET /health is liveness only: a database outage is answered 503 by the service itself and
# mends itself, so a restart would not help.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/healthcheck"]
ENTRYPOINT ["/usr/local/bin/service"]

# One final stage per service, picked by SERVICE below, so that each image states its own port.
FROM runtime AS user-service
ENV PORT=8001
EXPOSE 8001

FROM runtime AS product-service
ENV PORT=8002
EXPOSE 8002

FROM runtime AS order-service
ENV PORT=8003
EXPOSE 8003

FROM ${SERVICE}
ARG SERVICE
LABEL org.opencontainers.image.title="ecommerce-${SERVICE}" \
      org.opencontainers.image.description="The ${SERVICE} of the Rust e-commerce backend (axum, MongoDB)" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
COPY --from=build --chmod=0755 /src/target/release/${SERVICE} /usr/local/bin/service
