# shellcheck shell=bash
# Helpers every script shares. Sourced, not run; the other files in scripts/lib/ source
# it themselves, so a script may source it first or rely on them.

# as_root CMD...: runs CMD as root (directly when we are root, else through sudo).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: installs Debian packages quietly (the caller runs `apt-get update`
# first where the package lists may be missing).
apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# free_port: prints a TCP port on 127.0.0.1 that is free right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# healthcare_tools_dir: where installed tools are kept between runs, outside the clone
# (the PyPI venv, cargo-installed tools), so a second run - or CI on a machine that ran
# before - reuses them.
healthcare_tools_dir() {
  echo "${HEALTHCARE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/healthcare-api}"
}

# lambda_functions [--http]: the Lambda functions, one name a line, sorted - every
# workspace package whose manifest lives under functions/, read from `cargo metadata`.
# With --http, leaves out those whose Cargo.toml says they serve no HTTP:
#   [package.metadata.function]
#   http = false
# shellcheck disable=SC2120 # its one option is optional: callers may pass none
lambda_functions() {
  local http_only=0 arg metadata
  for arg in "$@"; do
    case "$arg" in
      --http) http_only=1 ;;
      *) echo "usage: lambda_functions [--http]" >&2; return 2 ;;
    esac
  done
  metadata=$(cargo metadata --no-deps --format-version 1) || return
  python3 -c '
import json, os, sys
http_only = sys.argv[1] == "1"
meta = json.load(sys.stdin)
functions = os.path.join(meta["workspace_root"], "functions") + os.sep
names = []
for package in meta["packages"]:
    if not package["manifest_path"].startswith(functions):
        continue
    settings = (package.get("metadata") or {}).get("function") or {}
    if http_only and settings.get("http", True) is False:
        continue
    names.append(package["name"])
if not names:
    sys.exit("lambda_functions: no packages under " + functions)
print("\n".join(sorted(names)))
' "$http_only" <<<"$metadata"
}
