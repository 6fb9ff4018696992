# shellcheck shell=bash
# fuzz_local_api WORKDIR PG_DIR PG_PORT: schemathesis against the local API, the way a
# client would meet it - the real server binary on 127.0.0.1, its own fresh database,
# a signed-in admin - for a bounded number of examples (scripts/lib/schemathesis.toml)
# and a bounded time. It fails on any 5xx other than 503 and on any response that
# breaks docs/openapi.json. Needs the cluster helpers of postgres.sh (PG_BIN set, as
# ensure_postgres_installed does) and schemathesis on PATH (ensure_python_tools).

# shellcheck source=scripts/lib/local_api.sh
source "$(dirname "${BASH_SOURCE[0]}")/local_api.sh"

fuzz_local_api() {
  local work=$1 pg_dir=$2 pg_port=$3 api_port token
  start_local_api "$work" "$pg_dir" "$pg_port" fuzz
  api_port=$API_PORT
  # An admin, so the admin routes are exercised too (an admin is also an ordinary user
  # of the other routes).
  curl -fs -o /dev/null -X POST "http://127.0.0.1:$api_port/api/auth/register" -H 'content-type: application/json' \
    -d '{"name":"Fuzz","email":"fuzz@example.com","password":"fuzzing-password"}'
  DATABASE_URL=$API_DATABASE_URL "${CARGO_TARGET_DIR:-target}/debug/ops" make-admin fuzz@example.com >/dev/null
  token=$(curl -fs -X POST "http://127.0.0.1:$api_port/api/auth/login" -H 'content-type: application/json' \
    -d '{"email":"fuzz@example.com","password":"fuzzing-password"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["access_token"])')
  local status=0
  # logout-all (or ending the current session, whose id GET /api/auth/sessions lists)
  # would end the fuzzing admin's own session, and every later case would be
  # a 401 that tests nothing; tests/api/sessions.rs covers it.
  # One worker: schemathesis' workers are threads, and CPython 3.11 (the machine's
  # Python) shares ast.parse's recursion counter between threads, so two workers can
  # crash it with "AST constructor recursion depth mismatch" (python/cpython#106905) -
  # a failure of the tool, not of the API.
  (cd "$work" && timeout "${FUZZ_SECONDS:-300}" schemathesis --config-file "$OLDPWD/scripts/lib/schemathesis.toml" run "$OLDPWD/docs/openapi.json" \
    --url "http://127.0.0.1:$api_port" -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --workers 1 --seed "${FUZZ_SEED:-20261122}" --generation-deterministic --exclude-operation-id logout_all --exclude-operation-id revoke_session \
    --no-color) || status=$?
  stop_local_api
  if [ "$status" -ne 0 ]; then
    echo "schemathesis failed ($status); the API's log:" >&2
    tail -n 30 "$work/fuzz-api.log" >&2
  fi
  return "$status"
}
