#!/usr/bin/env bash
# devdb.sh DBNAME — make sure a local PostgreSQL is running, that it has the
# chefdeploy role and the database DBNAME, and print its DATABASE_URL on stdout.
#
# In order, it uses: a server already listening on 127.0.0.1:5432; the private
# cluster under .data/pg; the installed Debian cluster (started as root); a new
# private cluster under .data/pg; Debian's postgresql package installed as root.
# When none of these can work it prints the command a person must run.
set -euo pipefail

db=${1:-chefdeploy}
role=chefdeploy
pass=chefdeploy
top=$(cd "$(dirname "$0")/.." && pwd)
data="$top/.data"
private="$data/pg"
private_port=5433

log() { echo "devdb: $*" >&2; }
die() { echo "devdb: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

pgbin() { # newest installed server binaries directory
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
listening() { # host port
  local bin; bin=$(pgbin)
  if command -v pg_isready >/dev/null; then pg_isready -q -h "$1" -p "$2"
  elif [ -n "$bin" ]; then "$bin/pg_isready" -q -h "$1" -p "$2"
  else (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
  fi
}
as_postgres() { runuser -u postgres -- "$@"; }
url() { echo "postgres://$role:$pass@127.0.0.1:$1/$2?sslmode=disable"; }
can_login() { PGPASSWORD=$pass PGCONNECT_TIMEOUT=3 psql -qAt -h 127.0.0.1 -p "$1" -U "$role" -d postgres -c 'select 1' >/dev/null 2>&1; }

install_postgres() {
  is_root || die "PostgreSQL is not installed. Run: sudo apt-get install -y postgresql   (or set DATABASE_URL)"
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
}

start_private() { # a cluster under .data/pg on 127.0.0.1:5433; as root it runs as the postgres user
  local bin; bin=$(pgbin)
  [ -n "$bin" ] || return 1
  local run=()
  if is_root; then
    id postgres >/dev/null 2>&1 || return 1
    run=(runuser -u postgres --)
  fi
  mkdir -p "$data"
  if [ ! -f "$private/PG_VERSION" ]; then
    log "creating a private cluster in $private"
    mkdir -p "$private"
    local pwfile="$data/.pgpass.tmp"
    echo "$pass" >"$pwfile"
    if is_root; then chown postgres "$private" "$pwfile"; chmod 700 "$private"; fi
    "${run[@]}" "$bin/initdb" -D "$private" -U "$role" --pwfile="$pwfile" -A scram-sha-256 >&2
    rm -f "$pwfile"
  fi
  if ! listening 127.0.0.1 "$private_port"; then
    log "starting the private cluster on 127.0.0.1:$private_port"
    "${run[@]}" "$bin/pg_ctl" -D "$private" -l "$private/server.log" -w \
      -o "-p $private_port -k $private -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=$max_connections" start >&2
  fi
  port=$private_port
}

# The tests run many databases at once, each under a replica with its own
# pool, LISTEN connections and job workers: the default 100 connections is too
# few on a busy machine. A server that is already running keeps its setting.
max_connections=300

start_debian() { # the packaged cluster, which pg_ctlcluster starts as root
  is_root && command -v pg_lsclusters >/dev/null || return 1
  local line; line=$(pg_lsclusters -h 2>/dev/null | sort -V | tail -n 1)
  [ -n "$line" ] || return 1
  local ver name cport
  read -r ver name cport _ <<<"$line"
  [ "$cport" = 5432 ] || return 1
  log "starting the Debian cluster $ver/$name"
  pg_ctlcluster "$ver" "$name" start -- -o "-c max_connections=$max_connections" >&2 || return 1
  for _ in $(seq 1 30); do listening 127.0.0.1 5432 && break; sleep 0.5; done
  port=5432
}

ensure_role() { # port; the role must exist with a password and CREATEDB (tests make databases)
  can_login "$1" && return 0
  local sql="DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN CREATE ROLE $role LOGIN CREATEDB PASSWORD '$pass'; ELSE ALTER ROLE $role LOGIN CREATEDB PASSWORD '$pass'; END IF; END\$\$;"
  if is_root && id postgres >/dev/null 2>&1 && as_postgres psql -qAt -p "$1" -d postgres -c "$sql" >/dev/null 2>&1; then
    return 0
  fi
  if psql -qAt -p "$1" -d postgres -c "$sql" >/dev/null 2>&1; then return 0; fi
  die "cannot create the role $role on port $1. Run: sudo -u postgres psql -p $1 -c \"CREATE ROLE $role LOGIN CREATEDB PASSWORD '$pass'\""
}

command -v psql >/dev/null || install_postgres

port=""
if listening 127.0.0.1 5432; then
  port=5432
elif [ -f "$private/PG_VERSION" ]; then
  start_private || die "the private cluster in $private did not start; see $private/server.log"
else
  [ -n "$(pgbin)" ] || install_postgres
  start_debian || start_private || die "no PostgreSQL could be started. Run: sudo pg_ctlcluster \$(pg_lsclusters -h | awk '{print \$1, \$2; exit}') start"
fi

ensure_role "$port"
if ! PGPASSWORD=$pass psql -qAt -h 127.0.0.1 -p "$port" -U "$role" -d postgres \
    -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  log "creating database $db"
  PGPASSWORD=$pass psql -qAt -h 127.0.0.1 -p "$port" -U "$role" -d postgres -c "CREATE DATABASE \"$db\"" >/dev/null
fi
url "$port" "$db"
