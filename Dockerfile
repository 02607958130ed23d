# Multi-stage build of the siteban service: a Rust build stage, then a slim Debian runtime
# that holds only the binary and config/, runs as a non-root user and checks its own health.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
COPY examples examples
COPY tests tests
RUN cargo build --profile dist --locked --bin siteban

FROM debian:bookworm-slim
# CA certificates: webhooks to providers may be https, verified against the system's roots.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/siteban --create-home siteban \
    && mkdir -p /var/lib/siteban/data && chown siteban:siteban /var/lib/siteban/data
WORKDIR /var/lib/siteban
COPY --from=build /src/target/dist/siteban /usr/local/bin/siteban
COPY config config
ENV SITEBAN__SERVER__LISTEN=0.0.0.0:8080 \
    SITEBAN__STORE__PATH=/var/lib/siteban/data \
    SITEBAN__LOG__FORMAT=json
USER siteban
EXPOSE 8080
VOLUME ["/var/lib/siteban/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD ["siteban", "health", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["siteban"]
CMD ["serve"]
