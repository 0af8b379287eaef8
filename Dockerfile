# One image per service: docker build --build-arg SERVICE=user-service .
FROM rust:1.95-bookworm AS build
ARG SERVICE
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    test -n "$SERVICE" \
    && cargo build --release --locked -p "$SERVICE" \
    && cp "target/release/$SERVICE" /service

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 app
COPY --from=build /service /usr/local/bin/service
USER app
ENV HOST=0.0.0.0 LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/service"]
