# shellcheck shell=bash
# bulk_clients_check WORKDIR PG_DIR PG_PORT: a bulk export by the SMART team's own client,
# smart-fetch, against the real local-api binary over its own fresh database and moto's
# S3: a backend app of a clinic signs in with its key (SMART Backend Services), exports
# the clinic as a Group, polls, downloads and cancels; every ndjson line it saved is then
# parsed by fhir.resources and checked by the two R4 validators of the FHIR step
# (scripts/lib/bulk_clients.py, scripts/lib/fhir_validate.js). Kept for a person to look
# at: .local/bulk-export/ (what smart-fetch wrote, and the lines as files).
# Needs the cluster helpers of postgres.sh, a moto (start_moto), the tools venv
# (ensure_python_tools), smart-fetch (ensure_bulk_client) and ensure_node_tools.

# shellcheck source=scripts/lib/local_api.sh
source "$(dirname "${BASH_SOURCE[0]}")/local_api.sh"

bulk_clients_check() {
  local work=$1 pg_dir=$2 pg_port=$3 status=0 kept=.local/bulk-export
  : "${BULK_VENV:?bulk_clients_check needs ensure_bulk_client first}"
  : "${NODE_TOOLS:?bulk_clients_check needs ensure_node_tools first}"
  rm -rf "$kept"
  mkdir -p "$kept"
  # Files of 8 KiB: the clinic's export comes in several, as a large one would.
  API_EXPORT_FILE_BYTES=8192 start_local_api "$work" "$pg_dir" "$pg_port" bulk_clients
  timeout 300 "$TOOLS_VENV/bin/python" scripts/lib/bulk_clients.py "http://127.0.0.1:$API_PORT" \
    "$BULK_VENV/bin/smart-fetch" "$kept" || status=$?
  stop_local_api
  if [ "$status" -ne 0 ]; then
    echo "the bulk export check failed ($status); the API's log:" >&2
    tail -n 30 "$work/bulk_clients-api.log" >&2
    return "$status"
  fi
  NODE_PATH="$NODE_TOOLS" timeout 120 node scripts/lib/fhir_validate.js "$kept/resources" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "the R4 validators failed on the exported lines ($status); they are in $kept/resources/" >&2
  fi
  return "$status"
}
