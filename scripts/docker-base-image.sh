#!/usr/bin/env bash
# Makes a minimal Debian bookworm image locally, for machines that cannot pull images:
# debootstrap's minbase variant, imported into Docker. Prints the image name. Does nothing
# (but print it) when the image exists already.
#
# The mirror is the one apt on this machine uses; debootstrap's default otherwise.
set -euo pipefail

readonly IMAGE=${LOCAL_BASE_IMAGE:-jwt-platform/debian:bookworm-minbase}

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "$IMAGE"
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    echo "installing debootstrap..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

mirror=$( (grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
           grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}') \
         | grep -v security | head -n 1 || true)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm (minbase) into $root..." >&2
debootstrap --variant=minbase bookworm "$root" ${mirror:+"$mirror"} >&2
# Package caches and lists are no use in a runtime image.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import - "$IMAGE" >/dev/null
echo "$IMAGE"
