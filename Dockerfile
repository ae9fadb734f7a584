# docker build --build-arg VERSION=0.1.0 -t anaplan-gateway:0.1.0 .
# Builder and runtime share Debian 12 (bookworm), so the binary's glibc matches.

FROM rust:1.95-bookworm AS builder
WORKDIR /app
# The crates and the build live in BuildKit's cache between builds, so a change to the source
# rebuilds only this crate. (hyper is patched in `vendor/`, which a recipe-based dependency
# cache would replace with an empty crate.)
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/app/target \
    cargo build --release --locked --bin anaplan-gateway \
    && cp target/release/anaplan-gateway /usr/local/bin/anaplan-gateway

# glibc, libgcc and CA certificates (rustls reads the system roots); no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="anaplan-gateway" \
      org.opencontainers.image.description="One small, caching, coalescing HTTP API in front of Anaplan's Integration API v2 task and model status" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=builder /usr/local/bin/anaplan-gateway /usr/local/bin/anaplan-gateway
# Numeric, so Kubernetes can check runAsNonRoot against the image.
USER 65532:65532
# API and admin. The API listens on loopback unless GATEWAY_LISTEN says otherwise:
# `docker run -p 8080:8080 -e GATEWAY_LISTEN=0.0.0.0:8080 ...` to reach it from the host.
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/anaplan-gateway", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/anaplan-gateway"]
