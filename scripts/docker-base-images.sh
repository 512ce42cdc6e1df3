#!/usr/bin/env bash
# Makes local stand-ins for the two base images the Dockerfile names, for machines that
# cannot pull images, and only where an image of that name is missing: a real image a
# developer pulled is never replaced.
#
#   debian:bookworm-slim       debootstrap's minbase variant of bookworm, imported
#   rust:<version>-slim-bookworm
#                              the image above plus what the real rust slim image adds
#                              (ca-certificates, gcc, libc6-dev), this machine's Rust
#                              toolchain (which must be that version) and this machine's
#                              CA bundle, so that cargo in a build reaches the registry
#                              through whatever this machine trusts
#
# The names are read from the Dockerfile's ARG defaults, so they cannot drift from it.
# Prints the two names; with the argument `runtime`, makes and prints only the first (what
# the Dockerfile's `prebuilt` target needs). The mirror for debootstrap and apt is the one
# apt on this machine uses.
set -euo pipefail
cd "$(dirname "$0")/.."

arg_default() { sed -n "s/^ARG $1=//p" Dockerfile | head -n 1; }
readonly RUNTIME_IMAGE=$(arg_default RUNTIME_IMAGE)
readonly BUILDER_IMAGE=$(arg_default BUILDER_IMAGE)
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

apt_mirror() {
    (grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
     grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}') \
        | grep -v security | head -n 1 || true
}

make_debian() {
    if ! command -v debootstrap >/dev/null; then
        echo "installing debootstrap..." >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    local root mirror
    mirror=$(apt_mirror)
    root=$(mktemp -d)
    echo "debootstrap bookworm (minbase) into $root..." >&2
    debootstrap --variant=minbase bookworm "$root" ${mirror:+"$mirror"} >&2
    # As the real slim image: no package caches, lists or documentation.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
    tar -C "$root" -c . | docker import --change 'CMD ["bash"]' - "$RUNTIME_IMAGE" >/dev/null
    rm -rf "$root"
}

make_rust() {
    local version host_version sysroot context
    version=$(printf '%s' "$BUILDER_IMAGE" | sed -n 's/^rust:\([0-9.]*\)-.*/\1/p')
    host_version=$(rustc --version | awk '{print $2}')
    case "$host_version" in
        "$version" | "$version".*) ;;
        *) echo "$BUILDER_IMAGE is missing and this machine's rustc is $host_version" \
                "(not $version): cannot stand in for it" >&2
           return 1 ;;
    esac
    sysroot=$(rustc --print sysroot)
    context=$(mktemp -d -p "${TMPDIR:-/tmp}")
    # The toolchain without its documentation (share/, most of its size); hard links where
    # the file system allows, so the copy costs no space.
    mkdir -p "$context/toolchain"
    for part in bin lib libexec etc; do
        [ -e "$sysroot/$part" ] || continue
        cp -al "$sysroot/$part" "$context/toolchain/" 2>/dev/null || cp -a "$sysroot/$part" "$context/toolchain/"
    done
    cp /etc/ssl/certs/ca-certificates.crt "$context/ca-certificates.crt"
    cat >"$context/Dockerfile" <<EOF
FROM $RUNTIME_IMAGE
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    RUST_VERSION=$host_version
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        ca-certificates gcc libc6-dev \\
    && rm -rf /var/lib/apt/lists/*
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY toolchain/ /usr/local/rustup/toolchains/$host_version-x86_64-unknown-linux-gnu/
RUN mkdir -p /usr/local/cargo/bin \\
    && for tool in /usr/local/rustup/toolchains/*/bin/*; do ln -s "\$tool" /usr/local/cargo/bin/; done \\
    && cargo --version && rustc --version
EOF
    echo "building $BUILDER_IMAGE from $RUNTIME_IMAGE and this machine's toolchain..." >&2
    DOCKER_BUILDKIT=0 docker build -q -t "$BUILDER_IMAGE" "$context" >&2 || { rm -rf "$context"; return 1; }
    rm -rf "$context"
}

have_image "$RUNTIME_IMAGE" || make_debian
echo "$RUNTIME_IMAGE"
[ "${1:-}" = runtime ] && exit 0
have_image "$BUILDER_IMAGE" || make_rust
echo "$BUILDER_IMAGE"
