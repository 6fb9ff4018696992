# shellcheck shell=bash
# A private PostgreSQL cluster from Debian's packages, for scripts/dev and scripts/test.
# Sourced, not run. The cluster listens on 127.0.0.1 only, with SCRAM passwords (as
# Neon uses) and TLS from a throwaway CA (so the rustls path is exercised for real).

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PG_SUPERUSER_PASSWORD=postgres

# initdb and postgres refuse to run as root; as root we run them as Debian's postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bindir() {
  local dir
  dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

ensure_postgres_installed() {
  if [ -z "$(pg_bindir)" ]; then
    echo "==> Installing PostgreSQL from Debian's packages"
    as_root apt-get update -qq
    apt_install postgresql postgresql-client openssl
  fi
  command -v openssl >/dev/null || apt_install openssl
  PG_BIN=$(pg_bindir)
  export PG_BIN
}

# A CA and a server certificate for 127.0.0.1/localhost. The server certificate must not
# be a CA itself (rustls refuses a CA used as an end entity, e.g. Debian's snakeoil).
make_test_certificates() {
  local dir=$1
  [ -f "$dir/server.crt" ] && return 0
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=healthcare local CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 3650 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
  chmod 600 "$dir/server.key"
}

# start_cluster DIR PORT: creates the cluster in DIR/data on first use, then starts it.
start_cluster() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    echo "$PG_SUPERUSER_PASSWORD" >"$dir/pwfile"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"
    as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
    rm -f "$dir/pwfile"
    as_pg mkdir -p "$dir/data/tls"
    make_test_certificates "$dir/tls"
    cp "$dir/tls/server.crt" "$dir/tls/server.key" "$dir/data/tls/"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$dir/data/tls"
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
ssl = on
ssl_cert_file = 'tls/server.crt'
ssl_key_file = 'tls/server.key'
max_connections = 200
# Counts statements per database: the tests prove one statement per CRUD request with it.
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track_utility = off
fsync = off
CONF
  fi
  echo "$port" >"$dir/port"
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 30 start >/dev/null
}

# restart_cluster DIR: starts a stopped cluster again on the port it had.
restart_cluster() {
  start_cluster "$1" "$(cat "$1/port")"
}

stop_cluster() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
  return 0
}

# psql_super DIR PORT SQL: runs SQL as the superuser over the cluster's socket.
psql_super() {
  as_pg "$PG_BIN/psql" -h "$1" -p "$2" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAtc "$3"
}

# wait_for_port PORT: until something accepts connections on 127.0.0.1:PORT (5 s at most).
wait_for_port() {
  for _ in $(seq 1 50); do
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
}

ensure_pgbouncer_installed() {
  command -v pgbouncer >/dev/null && return 0
  [ -x /usr/sbin/pgbouncer ] && return 0
  echo "==> Installing PgBouncer from Debian's packages"
  as_root apt-get update -qq
  apt_install pgbouncer
}

# start_pgbouncer DIR SERVER_PORT: PgBouncer in transaction mode in front of a cluster,
# as Neon's pooled (-pooler) endpoint is. Prints its port.
start_pgbouncer() {
  local dir=$1 server_port=$2 port
  port=$(free_port)
  mkdir -p "$dir"
  echo "\"postgres\" \"$PG_SUPERUSER_PASSWORD\"" >"$dir/userlist.txt"
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$server_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
  as_pg "$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" -d "$dir/pgbouncer.ini"
  wait_for_port "$port" || echo "PgBouncer is not accepting connections on 127.0.0.1:$port yet; see $dir/pgbouncer.log" >&2
  echo "$port"
}

stop_pgbouncer() {
  local dir=$1 pid
  [ -f "$dir/pgbouncer.pid" ] || return 0
  pid=$(cat "$dir/pgbouncer.pid")
  kill "$pid" 2>/dev/null || return 0
  # A daemon: not our child, so poll until it is gone (it writes its log to the end).
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  return 0
}

# start_neon_pooler DIR SERVER_PORT TLS_DIR: a PgBouncer set up like the one behind Neon's
# pooled (-pooler) endpoint for a 0.25 CU compute, for scripts/fleet. Clients must use TLS
# (certificate and key from TLS_DIR, the cluster's test CA) and SCRAM; server connections
# are plain TCP to 127.0.0.1. Prints its port; stop it with stop_pgbouncer DIR.
# The settings are Neon's documented pooler settings (neon.tech/docs/connect/connection-pooling)
# and its compute's pgbouncer.ini (neondatabase/neon, compute/etc/pgbouncer.ini).
start_neon_pooler() {
  local dir=$1 server_port=$2 tls_dir=$3 port
  port=$(free_port)
  mkdir -p "$dir/tls"
  # TLS_DIR's key is root's and 0600; PgBouncer runs as postgres and reads its own copy.
  cp "$tls_dir/server.crt" "$tls_dir/server.key" "$dir/tls/"
  chmod 600 "$dir/tls/server.key"
  echo "\"postgres\" \"$PG_SUPERUSER_PASSWORD\"" >"$dir/userlist.txt"
  chmod 600 "$dir/userlist.txt"
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
; Neon: application_name=pgbouncer, so its server connections are told apart in pg_stat_activity.
* = host=127.0.0.1 port=$server_port application_name=pgbouncer
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
; No Unix socket: every client, the admin console included, comes over TCP with TLS.
unix_socket_dir =
; Neon: auth_type=scram-sha-256 (Neon looks passwords up with auth_user; a file here).
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
; Neon: admin_users=postgres (the SHOW POOLS console, database "pgbouncer").
admin_users = postgres
; Neon: pool_mode=transaction.
pool_mode = transaction
; Neon: max_client_conn=10000.
max_client_conn = 10000
; Neon: default_pool_size = 0.9 x max_connections; a 0.25 CU compute has max_connections 104.
default_pool_size = 93
; Neon: query_wait_timeout=120 (a client waits up to 2 minutes for a server connection).
query_wait_timeout = 120
; Neon: listen_backlog unset, PgBouncer's 128: in a storm, connects beyond it wait on the kernel.
; Neon: max_prepared_statements (0 in compute/etc, 1000 in the docs) needs PgBouncer 1.21; this
; is 1.18, which has none - the same as 0. Our code sends no named statements (query_typed).
; Neon: ignore_startup_parameters=extra_float_digits.
ignore_startup_parameters = extra_float_digits
; Neon: clients connect with sslmode=require. Neon ends TLS in its proxy in front of PgBouncer
; (its compute sets client_tls_sslmode=disable); here PgBouncer stands in for both.
client_tls_sslmode = require
client_tls_cert_file = $dir/tls/server.crt
client_tls_key_file = $dir/tls/server.key
; Neon: server_tls_sslmode=disable (PgBouncer and Postgres share the compute).
server_tls_sslmode = disable
; Neon: log_connections=0, log_disconnections=0 (thousands of clients would flood the log).
log_connections = 0
log_disconnections = 0
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
  # One descriptor per client and per server connection: PgBouncer expects up to
  # max_client_conn + the pool (10012, it logs). The limit is raised in the shell that
  # becomes PgBouncer, since runuser's pam_limits resets what its caller set (to a soft
  # limit of 1024 here). Beyond the hard limit needs CAP_SYS_RESOURCE, which containers may
  # lack even as root; then we take the hard limit, and say so if that is too few.
  # shellcheck disable=SC2016 # expanded by the inner shell
  as_pg sh -c '
    ulimit -n 25000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    [ "$(ulimit -n)" -ge 10200 ] ||
      echo "start_neon_pooler: PgBouncer gets $(ulimit -n) open files, fewer than 10,000 clients and 93 servers need" >&2
    exec "$0" -d "$1"' "$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" "$dir/pgbouncer.ini"
  wait_for_port "$port" || echo "PgBouncer is not accepting connections on 127.0.0.1:$port yet; see $dir/pgbouncer.log" >&2
  echo "$port"
}
