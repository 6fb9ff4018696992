# shellcheck shell=bash
# start_local_api WORKDIR PG_DIR PG_PORT DBNAME: the real local-api binary on a free
# port of 127.0.0.1, over a fresh migrated database DBNAME, as a client would meet it.
# Sets API_PORT, API_PID (for stop_local_api) and API_DATABASE_URL; its log is WORKDIR/DBNAME-api.log.
# Needs the cluster helpers of postgres.sh and a debug build of local-api and ops.

# shellcheck source=scripts/lib/postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"

start_local_api() {
  local work=$1 pg_dir=$2 pg_port=$3 db=$4
  psql_super "$pg_dir" "$pg_port" "CREATE DATABASE $db"
  API_DATABASE_URL="postgres://postgres:$PG_SUPERUSER_PASSWORD@127.0.0.1:$pg_port/$db?sslmode=disable"
  DATABASE_URL=$API_DATABASE_URL "${CARGO_TARGET_DIR:-target}/debug/ops" migrate >/dev/null
  API_PORT=$(free_port)
  # A data key (so MFA enrolment works), a mail folder (so the mail flows run whole), the
  # test key that signs SMART ID tokens (so the oauth routes serve whole), and a bucket
  # on the S3 emulator start_moto runs, when one runs (so bulk export runs whole;
  # API_EXPORT_FILE_BYTES makes files small enough that an export has several).
  local smart_keys
  smart_keys=$(python3 -c 'import json,sys; print(json.dumps([{"kid": "test-1", "pem": open(sys.argv[1]).read()}]))' \
    tests/support/keys/id_token_rsa.pem)
  local exports=()
  [ -n "${AWS_ENDPOINT_URL:-}" ] &&
    exports=(EXPORT_BUCKET="exports-${db//_/-}" EXPORT_FILE_BYTES="${API_EXPORT_FILE_BYTES:-4194304}")
  env "${exports[@]}" SMART_SIGNING_KEYS="$smart_keys" DATABASE_URL="$API_DATABASE_URL" \
    JWT_SECRET=local-test-secret-of-at-least-32-bytes! PORT="$API_PORT" RUST_LOG=warn \
    DATA_KEY=ZnV6emluZy1kYXRhLWtleS1vZi0zMi1ieXRlcyEhISE= MAIL_DIR="$work/$db-mail" \
    "${CARGO_TARGET_DIR:-target}/debug/local-api" >"$work/$db-api.log" 2>&1 &
  API_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$API_PORT/api/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the local API did not start; its log:" >&2
  tail -n 30 "$work/$db-api.log" >&2
  return 1
}

# stop_local_api: stops what start_local_api started.
stop_local_api() {
  kill "$API_PID" 2>/dev/null
  wait "$API_PID" 2>/dev/null || true # it exits 143 on our SIGTERM
}
