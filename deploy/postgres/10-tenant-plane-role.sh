#!/bin/sh
# Run once by the postgres image, when it first makes the database (/docker-entrypoint-initdb.d):
# the Tenant Plane gets a role of its own that owns the database but is not a superuser, so that
# nothing it runs (a restore included) can reach the server's files, programs or other roles.
# The superuser's password is then removed: it is reachable only inside the container, through
# its socket (docker compose exec postgres psql -U postgres).
#
# ATLAS_DB_USER (default atlasusr) and ATLAS_DB_PASSWORD name the role; POSTGRES_USER and
# POSTGRES_DB are the image's own.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
  -v role="${ATLAS_DB_USER:-atlasusr}" -v password="${ATLAS_DB_PASSWORD:?set ATLAS_DB_PASSWORD}" \
  -v database="$POSTGRES_DB" -v superuser="$POSTGRES_USER" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEROLE CREATEDB PASSWORD :'password';
ALTER DATABASE :"database" OWNER TO :"role";
ALTER ROLE :"superuser" PASSWORD NULL;
SQL
