#!/bin/sh
# Starts PostgreSQL on $PGDATA, listening on every interface of the container (the stack's
# overlay network), password authentication (SCRAM) for every connection over the network.
# On the first start (an empty volume) it initialises the cluster first:
#   POSTGRES_PASSWORD_FILE  file holding the password of POSTGRES_USER (required then;
#                           a Docker secret, e.g. /run/secrets/postgres_password)
#   POSTGRES_USER           the superuser created (default postgres)
#   POSTGRES_DB             a database created for it, owned by it (default postgres)
# Arguments are passed to the server (e.g. -c max_connections=200).
set -eu

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD_FILE:-}" ] || [ ! -s "$POSTGRES_PASSWORD_FILE" ]; then
        echo "postgres-entrypoint: an empty data folder needs POSTGRES_PASSWORD_FILE, a file holding the password" >&2
        exit 1
    fi
    echo "postgres-entrypoint: initialising $PGDATA for $POSTGRES_USER" >&2
    # --pwfile reads the first line of the file: the secret as written, without its newline.
    initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" \
        --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >&2
    {
        echo "# Added by postgres-entrypoint: any address, with a password."
        echo "host all all 0.0.0.0/0 scram-sha-256"
        echo "host all all ::/0 scram-sha-256"
    } >>"$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        # A server on a private socket only, for as long as it takes to create the database.
        socket=$(mktemp -d)
        pg_ctl --pgdata="$PGDATA" --wait --silent \
            --options="-c listen_addresses='' -c unix_socket_directories='$socket'" start >&2
        PGPASSWORD=$(head -n 1 "$POSTGRES_PASSWORD_FILE") psql --quiet --no-psqlrc \
            --host="$socket" --username="$POSTGRES_USER" --dbname=postgres \
            --set=ON_ERROR_STOP=1 --set=db="$POSTGRES_DB" --set=owner="$POSTGRES_USER" \
            <<'SQL' >&2
CREATE DATABASE :"db" OWNER :"owner";
SQL
        pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop >&2
        rmdir "$socket"
    fi
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' -c password_encryption=scram-sha-256 "$@"
