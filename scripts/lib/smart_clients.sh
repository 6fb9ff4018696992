# shellcheck shell=bash
# smart_clients_check WORKDIR PG_DIR PG_PORT: SMART on FHIR driven by clients nobody here
# wrote, against the real local-api binary over its own fresh database: authlib and
# PyJWT (scripts/lib/smart_clients.py), then the SMART JavaScript client in headless
# Chromium (scripts/lib/smart_browser.js), whose screenshots of our authorize pages are
# kept in .local/screenshots/ for a person to look at. Needs the cluster helpers of
# postgres.sh, the tools venv (ensure_python_tools), ensure_node_tools and
# ensure_browser_tools.

# shellcheck source=scripts/lib/local_api.sh
source "$(dirname "${BASH_SOURCE[0]}")/local_api.sh"

smart_clients_check() {
  local work=$1 pg_dir=$2 pg_port=$3 status=0 api
  start_local_api "$work" "$pg_dir" "$pg_port" smart_clients
  api="http://127.0.0.1:$API_PORT"
  timeout 120 "$TOOLS_VENV/bin/python" scripts/lib/smart_clients.py "$api" || status=$?
  if [ "$status" -eq 0 ]; then
    # (playwright-core starts Chromium with a fresh, empty profile of its own.)
    NODE_PATH="$NODE_TOOLS" timeout 180 \
      node scripts/lib/smart_browser.js "$api" .local/screenshots || status=$?
  fi
  stop_local_api
  if [ "$status" -ne 0 ]; then
    echo "the SMART client check failed ($status); the API's log:" >&2
    tail -n 30 "$work/smart_clients-api.log" >&2
  fi
  return "$status"
}
