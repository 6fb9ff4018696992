# shellcheck shell=bash
# What `sam local` needs on a machine that cannot pull Lambda's base images: Docker from
# Debian, a base image built here from Debian's packages, a fast `sam build`, and an
# --env-vars file. Sourced, not run (scripts/sam-local, scripts/test). Needs common.sh
# and tools.sh (ensure_python_tools: sam) sourced first.

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# ensure_docker WORKDIR: Docker from Debian's packages (docker.io) if there is no dockerd,
# and a dockerd if none answers. One it starts is stopped by stop_docker. Its default
# bridge is what lets a container reach PostgreSQL on the host (docker_gateway); it runs
# without iptables, which nothing here needs (no container talks to the outside).
ensure_docker() {
  local work=$1
  DOCKERD_PID=
  if ! command -v dockerd >/dev/null; then
    echo "==> Installing Docker from Debian's packages (docker.io)"
    as_root apt-get update -qq
    apt_install docker.io
  fi
  command -v ip >/dev/null || apt_install iproute2 # docker_gateway reads docker0's address
  docker info >/dev/null 2>&1 && return 0
  echo "==> Starting dockerd (log: $work/dockerd.log)"
  # Started directly, not through a shell function, so that $! is dockerd itself (or
  # sudo, which passes our signal on) and stop_docker stops it.
  if [ "$(id -u)" = 0 ]; then
    dockerd --iptables=false --ip6tables=false >"$work/dockerd.log" 2>&1 &
  else
    # shellcheck disable=SC2024 # the log is in our own work dir: we write it, not root
    sudo dockerd --iptables=false --ip6tables=false >"$work/dockerd.log" 2>&1 &
  fi
  DOCKERD_PID=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  echo "Docker cannot run on this machine; dockerd said:" >&2
  tail -n 20 "$work/dockerd.log" >&2
  return 1
}

# stop_docker: stops the dockerd ensure_docker started, if it started one.
stop_docker() {
  [ -n "${DOCKERD_PID:-}" ] || return 0
  as_root kill "$DOCKERD_PID" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$DOCKERD_PID" 2>/dev/null || return 0
    sleep 0.1
  done
}

# docker_gateway: the host's address on Docker's default bridge, where a container
# reaches services on the host (127.0.0.1 inside a container is the container).
docker_gateway() {
  local gateway
  gateway=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
  # Docker 20.10 (Debian's) leaves the default bridge's gateway out of IPAM: it is the
  # address of the docker0 interface.
  [ -n "$gateway" ] || gateway=$(ip -4 -o addr show docker0 2>/dev/null | awk '{ split($4, a, "/"); print a[1] }')
  echo "$gateway"
}

# debian_arch ARCH: Lambda's architecture name as Debian and Docker spell it.
debian_arch() {
  case "$1" in
    x86_64) echo amd64 ;;
    arm64) echo arm64 ;;
    *) echo "unknown architecture $1 (arm64 or x86_64)" >&2; return 2 ;;
  esac
}

# ensure_emulation ARCH: on a machine of another architecture, qemu-user-static and
# binfmt_misc, so the kernel runs ARCH's binaries (debootstrap's second stage, SAM's
# image build, and every invoke).
ensure_emulation() {
  local arch
  arch=$(debian_arch "$1") || return
  [ "$arch" = "$(dpkg --print-architecture)" ] && return 0
  if ! command -v qemu-aarch64-static >/dev/null || ! [ -e /usr/sbin/update-binfmts ]; then
    echo "==> Installing qemu-user-static and binfmt-support from Debian's packages"
    as_root apt-get update -qq
    apt_install qemu-user-static binfmt-support
  fi
  [ -e /proc/sys/fs/binfmt_misc/status ] || as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  local name=qemu-aarch64
  [ "$arch" = amd64 ] && name=qemu-x86_64
  [ -e "/proc/sys/fs/binfmt_misc/$name" ] || as_root update-binfmts --enable "$name"
  if ! [ -e "/proc/sys/fs/binfmt_misc/$name" ]; then
    echo "cannot register $name with binfmt_misc: $1 binaries cannot run here" >&2
    return 1
  fi
}

# base_rootfs ARCH DIR: a minimal Debian bookworm for ARCH in DIR, as the base of a
# Lambda image. What the functions and SAM need of it: glibc and libgcc_s for our
# binaries (bookworm's glibc 2.36 is newer than provided.al2023's), /bin/sh, mv and chmod
# for the one RUN line SAM adds when it layers AWS's Runtime Interface Emulator on top,
# and nothing at /var/runtime/bootstrap (the emulator would run that instead of ours).
base_rootfs() {
  local arch=$1 dir=$2
  as_root debootstrap --variant=minbase --arch="$arch" bookworm "$dir" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
  as_root rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/locale/* "$dir/var/runtime"
  as_root mkdir -p "$dir/var/task"
}

# ensure_base_image ARCH WORKDIR: sets BASE_IMAGE to a local Lambda base image for ARCH,
# built once. The root filesystem is kept as a tarball in the tools directory, named by
# a hash of the recipe (base_rootfs and the image settings below), like the PyPI venv:
# a machine that built it before imports it in seconds; a changed recipe builds anew.
ensure_base_image() {
  local lambda_arch=$1 work=$2 arch hash cache tarball
  arch=$(debian_arch "$lambda_arch") || return
  hash=$({ declare -f base_rootfs ensure_base_image; echo "$arch"; } | sha256sum | cut -c1-12)
  BASE_IMAGE="healthcare-lambda-base:$lambda_arch-$hash"
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return 0
  cache="$(healthcare_tools_dir)/lambda-base"
  tarball="$cache/bookworm-$arch-$hash.tar"
  if [ ! -f "$tarball" ]; then
    command -v debootstrap >/dev/null || { as_root apt-get update -qq && apt_install debootstrap; }
    echo "==> Building the $lambda_arch base image from Debian's packages (debootstrap; once per machine)"
    mkdir -p "$cache"
    base_rootfs "$arch" "$work/rootfs-$arch"
    as_root tar --numeric-owner -C "$work/rootfs-$arch" -cf "$tarball.tmp" .
    as_root rm -rf "$work/rootfs-$arch"
    mv "$tarball.tmp" "$tarball"
  fi
  # What provided.al2023 sets that a function may read; SAM gives the container its
  # entrypoint (the emulator) and mounts the function at /var/task.
  docker import --platform "linux/$arch" \
    --change 'ENV PATH=/var/task:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
    --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV TZ=:UTC' \
    --change 'WORKDIR /var/task' \
    "$tarball" "$BASE_IMAGE" >/dev/null
  # SAM layers its emulator onto a base once and reuses that image while it exists.
  docker image rm -f "${BASE_IMAGE%%:*}:rapid-$lambda_arch" >/dev/null 2>&1 || true
}

# sam_build ARCH BUILD_DIR: `sam build` of template.yaml into BUILD_DIR, as a user runs
# it (samconfig.toml: in place, one cargo build for all functions), for ARCH.
sam_build() {
  local arch=$1 build_dir=$2
  SAM_CLI_TELEMETRY=0 LAMBDA_ARCH=$arch sam build --build-dir "$build_dir" \
    --parameter-overrides "Architecture=$arch" >"$build_dir.log" 2>&1 || {
    echo "sam build failed:" >&2
    tail -n 30 "$build_dir.log" >&2
    return 1
  }
}

# write_env_vars FILE DATABASE_URL JWT_SECRET: the --env-vars file for every function:
# the database and key given and no Secrets Manager (the ARNs blank). SAM passes a
# function only the variables its template declares, so only those are set.
write_env_vars() {
  python3 - "$@" <<'PY'
import json, sys
path, url, secret = sys.argv[1:4]
values = {"DATABASE_URL": url, "JWT_SECRET": secret, "DATABASE_SECRET_ARN": "", "JWT_SECRET_ARN": "",
          "DATA_KEY_SECRET_ARN": "", "METRICS_NAMESPACE": "HealthcareApiLocal",
          # sam local gives a bucket's !Ref as its logical id, not a bucket name.
          "EXPORT_BUCKET": "healthcare-exports-local", "AUDIT_ARCHIVE_BUCKET": ""}
with open(path, "w") as f:
    json.dump({"Parameters": values}, f, indent=1)
PY
}

# open_cluster_to_docker DIR: a cluster made by start_cluster (postgres.sh) listening on
# Docker's bridge too, and letting its containers sign in (SCRAM, as on 127.0.0.1).
open_cluster_to_docker() {
  local dir=$1 gateway subnet
  gateway=$(docker_gateway)
  subnet=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}')
  echo "host all all $subnet scram-sha-256" | as_pg tee -a "$dir/data/pg_hba.conf" >/dev/null
  echo "listen_addresses = '127.0.0.1,$gateway'" | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
  stop_cluster "$dir"
  restart_cluster "$dir"
}
