# One image per service:  docker build --build-arg SERVICE=gateway --target from-source .
# (docker compose passes SERVICE and the target itself.)
#
# Stages, in the order the classic builder needs (without BuildKit it builds every stage up
# to the target, so the offline path must come before the one that needs a Rust image):
#   runtime      the runtime base: non-root user, data folder, health check; no RUN, so any
#                base with glibc works (debian:bookworm-slim, distroless/cc, a local import)
#   prebuilt     runtime + a binary built on the host (docker/prebuilt/$SERVICE/app):
#                the path scripts/compose-test.sh takes on machines without registry access
#   toolchain    the Rust image + docker/deps-skeleton, compiled
#   planner      the dependency skeleton of the source tree (docker/deps-skeleton)
#   builder      compiles the three binaries from source; dependencies in their own layer,
#                rebuilt only when the skeleton changes
#   from-source  runtime + one binary from builder: the default

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

# The dependency-skeleton tool, compiled once: its layer depends on nothing of ours but
# docker/deps-skeleton/ (see its main.rs for why cargo-chef's recipe is not enough here).
FROM ${BUILDER_IMAGE} AS toolchain
# The binaries the images ship (compose picks one per image with SERVICE), all built in one
# shared layer: three images, one compilation.
ENV BINARIES="auth-service resource-service gateway"
COPY docker/deps-skeleton/ /usr/local/src/deps-skeleton/
RUN cargo install --locked --quiet --path /usr/local/src/deps-skeleton --root /usr/local \
    && rm -rf /usr/local/src/deps-skeleton "$CARGO_HOME/registry"

# Derives, from the whole source tree, the manifests and lock file that decide how the
# dependencies compile, with empty sources: identical bytes until a dependency changes.
FROM toolchain AS planner
WORKDIR /src
COPY . .
RUN deps-skeleton /src /skeleton ${BINARIES}

FROM toolchain AS builder
WORKDIR /src
# The dependency layer: cached for as long as the skeleton's bytes are unchanged, whatever
# else (sources, benches, tests, examples, unrelated crates) changed. Without --locked,
# because the skeleton's lock file leaves our own packages for cargo to add back.
COPY --from=planner /skeleton/ ./
RUN cargo build --release $(for b in $BINARIES; do printf -- '-p %s ' "$b"; done)
COPY . .
# The three binaries at once, with the same packages selected as the layer above, so every
# dependency is compiled with the same features and none is compiled again. Our packages
# have other versions than the skeleton's stubs and build anew; the touch is a second guard.
RUN find . -path ./target -prune -o -name '*.rs' -exec touch {} + \
    && cargo build --release --locked $(for b in $BINARIES; do printf -- '-p %s ' "$b"; done) \
    && mkdir /out \
    && for b in $BINARIES; do cp "target/release/$b" /out/; done

FROM runtime AS from-source
ARG SERVICE
COPY --from=builder /out/${SERVICE} /usr/local/bin/app
