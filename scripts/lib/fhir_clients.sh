# shellcheck shell=bash
# fhir_clients_check WORKDIR PG_DIR PG_PORT: the FHIR API driven by fhirpy, with every
# resource it answers parsed by fhir.resources' R4B models (scripts/lib/fhir_clients.py),
# against the real local-api binary over its own fresh database. Needs the cluster
# helpers of postgres.sh and the tools venv (ensure_python_tools).

# shellcheck source=scripts/lib/local_api.sh
source "$(dirname "${BASH_SOURCE[0]}")/local_api.sh"

fhir_clients_check() {
  local work=$1 pg_dir=$2 pg_port=$3 status=0
  start_local_api "$work" "$pg_dir" "$pg_port" fhir_clients
  timeout 120 "$TOOLS_VENV/bin/python" scripts/lib/fhir_clients.py "http://127.0.0.1:$API_PORT" || status=$?
  stop_local_api
  if [ "$status" -ne 0 ]; then
    echo "the FHIR client check failed ($status); the API's log:" >&2
    tail -n 30 "$work/fhir_clients-api.log" >&2
  fi
  return "$status"
}
