# shellcheck shell=bash
# The lint gate: formatting, clippy, shellcheck, unused dependencies and known
# vulnerabilities (RustSec), stopping at the first problem. Sourced, not run; scripts/check and scripts/test call run_lint_gate
# from the repository's root, where every script starts by cd-ing.

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# cargo-machete and cargo-audit from crates.io, pinned here; changing a pin installs
# that version.
CARGO_MACHETE_VERSION=0.9.2
CARGO_AUDIT_VERSION=0.22.2

# rustfmt and clippy come with a default rustup profile; a minimal one lacks them.
ensure_rust_lint_components() {
  { cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt; } &&
    { cargo clippy --version >/dev/null 2>&1 || rustup component add clippy; }
}

ensure_shellcheck() {
  command -v shellcheck >/dev/null && return 0
  echo "==> Installing ShellCheck from Debian's packages"
  as_root apt-get update -qq && apt_install shellcheck
}

# ensure_cargo_machete: cargo-machete, built from crates.io into the tools directory
# kept between runs (beside the PyPI venv) when it is missing or not the pinned version.
# Sets CARGO_TOOLS_BIN to the directory that holds it.
ensure_cargo_machete() {
  local root
  root="$(healthcare_tools_dir)/cargo-tools"
  CARGO_TOOLS_BIN="$root/bin"
  if [ "$("$CARGO_TOOLS_BIN/cargo-machete" --version 2>/dev/null)" != "$CARGO_MACHETE_VERSION" ]; then
    echo "==> Installing cargo-machete $CARGO_MACHETE_VERSION (crates.io) into $root"
    # Built in a temporary target dir of its own, not the project's CARGO_TARGET_DIR;
    # --force replaces another version, or a record whose binary is gone.
    env -u CARGO_TARGET_DIR cargo install --quiet --locked --force --root "$root" "cargo-machete@$CARGO_MACHETE_VERSION"
  fi
}

# shell_scripts: the shell scripts in scripts/, scripts/lib/ and .ci/run, one a line -
# the files whose #! line runs a shell, or that carry a `# shellcheck shell=` header
# (the sourced libraries).
shell_scripts() {
  local file
  for file in scripts/* scripts/lib/* .ci/run; do
    [ -f "$file" ] || continue
    if head -n 1 "$file" | grep -Eq '^#!.*[/ ](ba|da|k)?sh( |$)' ||
      head -n 5 "$file" | grep -Eq '^# shellcheck shell='; then
      echo "$file"
    fi
  done
}

# ensure_cargo_audit: cargo-audit, built like cargo-machete into the same tools directory
# when missing or not the pinned version; without its default feature, which only
# `cargo audit bin` (scanning binaries) uses. Sets CARGO_TOOLS_BIN.
ensure_cargo_audit() {
  local root
  root="$(healthcare_tools_dir)/cargo-tools"
  CARGO_TOOLS_BIN="$root/bin"
  case "$("$CARGO_TOOLS_BIN/cargo-audit" --version 2>/dev/null)" in
    *" $CARGO_AUDIT_VERSION") ;;
    *)
      echo "==> Installing cargo-audit $CARGO_AUDIT_VERSION (crates.io) into $root"
      env -u CARGO_TARGET_DIR cargo install --quiet --locked --force --no-default-features \
        --root "$root" "cargo-audit@$CARGO_AUDIT_VERSION" ;;
  esac
}

# run_cargo_audit: Cargo.lock against the offline RustSec snapshot beside the clone
# (../shared/advisory-db, read-only in CI: cargo audit only reads it; ADVISORY_DB names
# another), never fetching: these machines cannot reach the advisory repository. With
# --no-fetch cargo audit does not judge the snapshot's age. Vulnerabilities and unsound
# advisories fail; unmaintained and yanked crates are printed as warnings. An advisory
# that cannot be fixed is ignored in .cargo/audit.toml, with a comment saying why.
run_cargo_audit() {
  local db status=0
  db=${ADVISORY_DB:-$PWD/../shared/advisory-db}
  if [ ! -d "$db/crates" ]; then
    echo "lint: no RustSec advisory database at $db (shared/advisory-db beside the clone, or ADVISORY_DB)" >&2
    return 1
  fi
  if ! ensure_cargo_audit; then
    echo "lint: could not install cargo-audit $CARGO_AUDIT_VERSION" >&2
    return 1
  fi
  PATH="$CARGO_TOOLS_BIN:$PATH" cargo audit --db "$db" --no-fetch --deny unsound || status=$?
  case "$status" in
    0) ;;
    1) echo "lint: cargo audit found the advisories above (or could not read $db); update the crate, or ignore the advisory in .cargo/audit.toml with a comment saying why" >&2
       return 1 ;;
    *) echo "lint: cargo audit failed ($status)" >&2
       return 1 ;;
  esac
}

# run_lint_gate: cargo fmt, clippy with warnings as errors, shellcheck, cargo machete,
# cargo audit - in that order; returns non-zero with a message at the first that finds
# a problem.
run_lint_gate() {
  local scripts listed status=0
  if ! ensure_rust_lint_components; then
    echo "lint: could not add rustfmt and clippy with rustup" >&2
    return 1
  fi
  echo "==> Lint: cargo fmt --check"
  if ! cargo fmt --all --check; then
    echo "lint: the code above is not formatted; run \`cargo fmt --all\`" >&2
    return 1
  fi
  echo "==> Lint: cargo clippy (warnings are errors)"
  if ! cargo clippy --workspace --all-targets --locked --quiet -- -D warnings; then
    echo "lint: clippy found the problems above" >&2
    return 1
  fi
  echo "==> Lint: shellcheck"
  if ! ensure_shellcheck; then
    echo "lint: could not install shellcheck" >&2
    return 1
  fi
  listed=$(shell_scripts)
  mapfile -t scripts <<<"$listed"
  if ! shellcheck -x "${scripts[@]}"; then
    echo "lint: shellcheck found the problems above" >&2
    return 1
  fi
  echo "==> Lint: cargo machete (unused dependencies)"
  if ! ensure_cargo_machete; then
    echo "lint: could not install cargo-machete $CARGO_MACHETE_VERSION" >&2
    return 1
  fi
  PATH="$CARGO_TOOLS_BIN:$PATH" cargo machete --skip-target-dir || status=$?
  case "$status" in
    0) ;;
    1) echo "lint: cargo machete found the unused dependencies above; remove them (a false positive goes in that crate's [package.metadata.cargo-machete] ignored)" >&2
       return 1 ;;
    *) echo "lint: cargo machete failed ($status)" >&2
       return 1 ;;
  esac
  echo "==> Lint: cargo audit (known vulnerabilities, offline RustSec snapshot)"
  run_cargo_audit || return 1
}
