#!/usr/bin/env bash
# The secrets of the Swarm stack (deploy/swarm/stack.yml), as the files `docker stack
# deploy` reads: random values, written only where a file is missing (a running stack's
# secrets cannot change under the same name), readable by their owner only.
#   scripts/swarm-secrets.sh [folder]        (default deploy/swarm/secrets, kept out of git)
#
#   postgres_password   the database user's password (hex: safe inside a URL)
#   auth_database_url   postgres://auth:<that password>@postgres:5432/auth
#   identity_secret     shared by the gateway and the resource-service (48 random bytes)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-deploy/swarm/secrets}
mkdir -p "$dir"
chmod 700 "$dir"
umask 077
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
random_base64() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }

if [ ! -s "$dir/postgres_password" ]; then
    random_hex 24 >"$dir/postgres_password"
    rm -f "$dir/auth_database_url"
fi
if [ ! -s "$dir/auth_database_url" ]; then
    printf 'postgres://auth:%s@postgres:5432/auth' "$(cat "$dir/postgres_password")" >"$dir/auth_database_url"
fi
[ -s "$dir/identity_secret" ] || random_base64 48 >"$dir/identity_secret"
echo "$dir"
