# shellcheck shell=bash
# fhir_clients_check WORKDIR PG_DIR PG_PORT: the FHIR API driven by fhirpy, with every
# resource it answers parsed by fhir.resources' R4B models (scripts/lib/fhir_clients.py),
# against the real local-api binary over its own fresh database; then each of those
# bodies, kept in .local/fhir-responses/ for a person to look at, checked by two R4
# validators nobody here wrote, @medplum/core and FHIR.js (scripts/lib/fhir_validate.js).
# Needs the cluster helpers of postgres.sh, the tools venv (ensure_python_tools) and the
# npm packages of ensure_node_tools.

# shellcheck source=scripts/lib/local_api.sh
source "$(dirname "${BASH_SOURCE[0]}")/local_api.sh"

fhir_clients_check() {
  local work=$1 pg_dir=$2 pg_port=$3 status=0 responses=.local/fhir-responses
  : "${NODE_TOOLS:?fhir_clients_check needs ensure_node_tools first}"
  rm -rf "$responses"
  mkdir -p "$responses"
  start_local_api "$work" "$pg_dir" "$pg_port" fhir_clients
  FHIR_RESPONSES_DIR=$responses timeout 120 \
    "$TOOLS_VENV/bin/python" scripts/lib/fhir_clients.py "http://127.0.0.1:$API_PORT" || status=$?
  stop_local_api
  if [ "$status" -ne 0 ]; then
    echo "the FHIR client check failed ($status); the API's log:" >&2
    tail -n 30 "$work/fhir_clients-api.log" >&2
    return "$status"
  fi
  # (Offline: the validators read their bundled R4 definitions and value sets.)
  NODE_PATH="$NODE_TOOLS" timeout 120 node scripts/lib/fhir_validate.js "$responses" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "the R4 validators failed ($status); the bodies they read are in $responses/" >&2
  fi
  return "$status"
}
