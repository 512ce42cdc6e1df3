# One image per service:  docker build --build-arg SERVICE=gateway --target from-source .
# (docker compose passes SERVICE and the target itself.)
#
# Stages, in the order the classic builder needs (without BuildKit it builds every stage up
# to the target, so the offline path must come before the one that needs a Rust image):
#   runtime      the runtime base: non-root user, data folder, health check; no RUN, so any
#                base with glibc works (debian:bookworm-slim, distroless/cc, a local import)
#   prebuilt     runtime + a binary built on the host (docker/prebuilt/$SERVICE/app):
#                the path scripts/compose-test.sh takes on machines without registry access
#   builder      compiles from source in the Rust image; dependencies in their own layer
#   from-source  runtime + the binary from builder: the default

ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG BUILDER_IMAGE=rust:1.95-slim-bookworm

FROM ${RUNTIME_IMAGE} AS runtime
ENV APP_ENVIRONMENT=production
# The auth-service keeps its database under /data (a named volume in compose); the volume
# takes this folder's owner, the unprivileged user below.
COPY --chown=10001:10001 docker/data/ /data/
WORKDIR /data
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/app"]
# The binary probes its own /health/ready: no curl in the image.
HEALTHCHECK --interval=3s --timeout=3s --start-period=10s --retries=5 \
    CMD ["/usr/local/bin/app", "healthcheck"]

FROM runtime AS prebuilt
ARG SERVICE
COPY docker/prebuilt/${SERVICE}/ /usr/local/bin/

FROM ${BUILDER_IMAGE} AS builder
WORKDIR /src
# Manifests and stub sources first, so the dependency layer is rebuilt only when
# Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
COPY shared/Cargo.toml shared/
COPY service-kit/Cargo.toml service-kit/
COPY auth-service/Cargo.toml auth-service/
COPY resource-service/Cargo.toml resource-service/
COPY gateway/Cargo.toml gateway/
COPY e2e/Cargo.toml e2e/
RUN for crate in shared service-kit auth-service resource-service gateway e2e; do \
        mkdir -p $crate/src && touch $crate/src/lib.rs; \
    done \
    && for bin in auth-service resource-service gateway; do \
        echo 'fn main() {}' > $bin/src/main.rs && mkdir -p $bin/tests/api && touch $bin/tests/api/main.rs; \
    done \
    && mkdir -p gateway/benches && echo 'fn main() {}' > gateway/benches/signatures.rs \
    && cargo build --release --locked -p auth-service -p resource-service -p gateway
COPY . .
ARG SERVICE
# The stubs' build outputs are newer than the real sources; make cargo rebuild our crates.
RUN touch shared/src/lib.rs service-kit/src/lib.rs auth-service/src/lib.rs \
        resource-service/src/lib.rs gateway/src/lib.rs ${SERVICE}/src/main.rs \
    && cargo build --release --locked -p ${SERVICE} \
    && cp target/release/${SERVICE} /app

FROM runtime AS from-source
COPY --from=builder /app /usr/local/bin/app
