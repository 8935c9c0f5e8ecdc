#!/usr/bin/env bash
# make image: build the Dockerfile with podman and check the image as an operator would:
# live and ready, a wallet round trip, a non-root user, the health check, and a prompt, clean
# stop on SIGTERM both while serving and half a second after start. Loopback only.
#
# No Docker daemon or registry is needed: podman (Debian) builds, with a private
# containers.conf (runc; rlimits this root may set), on a base image made locally from Debian
# packages and tagged as the Dockerfile's python:3.11-slim.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=localhost/portfolio:test
BASE=localhost/py311-bookworm:local
WORK=$(mktemp -d)
CONTAINERS=()

say() { echo "image: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

cleanup() {
  for c in "${CONTAINERS[@]}"; do podman rm -f "$c" >/dev/null 2>&1 || true; done
  podman image prune -f >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ensure_podman() {
  local missing=()
  for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing podman runc debootstrap from Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
  fi
  local nofile
  nofile=$(ulimit -Hn)
  cat > "$WORK/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
  export CONTAINERS_CONF="$WORK/containers.conf"
  podman info >/dev/null 2>&1 || fail "podman cannot run here (podman info fails)"
}

debian_mirror() {
  sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1 \
    || true
}

ensure_base() {
  if podman image exists "$BASE"; then return; fi
  local mirror rootfs
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
  rootfs="$WORK/rootfs"
  say "making the base image from Debian packages ($mirror)"
  debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 20 "$WORK/debootstrap.log" >&2; fail "debootstrap"; }
  # HTTPS from a container goes through this machine's proxy: trust its certificates (a base
  # for local checks only; never publish it).
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  fi
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/*
  tar --numeric-owner -C "$rootfs" -c . |
    podman import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE" >/dev/null
  podman tag "$BASE" docker.io/library/python:3.11-slim
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_live() {  # wait_live PORT
  for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$1/api/v1/health/live" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

start() {  # start NAME PORT: a container on loopback, chains and prices nowhere
  podman run -d --name "$1" -p "127.0.0.1:$2:8000" \
    -e PORTFOLIO_PRICE_SOURCES=none -e PORTFOLIO_REFRESH_INTERVAL_SECONDS=0 \
    -e PORTFOLIO_SHUTDOWN_DRAIN_SECONDS=1 \
    -e PORTFOLIO_ETHEREUM_RPC_URLS=http://127.0.0.1:9 -e PORTFOLIO_SOLANA_RPC_URLS=http://127.0.0.1:9 \
    "$IMAGE" >/dev/null
  CONTAINERS+=("$1")
}

timed_stop() {  # timed_stop NAME: seconds podman stop took; fails past 5 s
  local started elapsed
  started=$(date +%s.%N)
  podman stop -t 10 "$1" >/dev/null
  elapsed=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" \
    "$started" "$(date +%s.%N)")
  python3 -c "import sys; sys.exit(float(sys.argv[1]) >= 5)" "$elapsed" ||
    fail "$1 took ${elapsed} s to stop on SIGTERM (killed, not stopped)"
  echo "$elapsed"
}

ensure_podman
ensure_base
say "building $IMAGE"
podman build --pull=never --format docker -t "$IMAGE" \
  --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" . >"$WORK/build.log" 2>&1 || {
  tail -n 30 "$WORK/build.log" >&2; fail "build"; }
say "size $(podman image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
[ "$(podman image inspect "$IMAGE" --format '{{index .Labels "org.opencontainers.image.title"}}')" = portfolio ] ||
  fail "OCI labels missing"

port=$(free_port)
start portfolio-check "$port"
wait_live "$port" || { podman logs portfolio-check >&2; fail "not live within 30 s"; }
curl -fsS "http://127.0.0.1:$port/api/v1/health/ready" >/dev/null || fail "not ready"
uid=$(podman exec portfolio-check id -u)
[ "$uid" != 0 ] || fail "runs as root"
podman healthcheck run portfolio-check >/dev/null 2>&1 || fail "HEALTHCHECK fails"
wallet=$(curl -fsS -X POST "http://127.0.0.1:$port/api/v1/wallets" -H 'Content-Type: application/json' \
  -d '{"chain": "ethereum", "address": "0x1111111111111111111111111111111111111111", "label": "image"}')
id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$wallet")
curl -fsS "http://127.0.0.1:$port/api/v1/wallets/$id" | grep -q '"label":"image"' || fail "wallet not read back"
curl -fsS -X DELETE "http://127.0.0.1:$port/api/v1/wallets/$id" -o /dev/null || fail "wallet not deleted"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/wallets/$id")" = 404 ] ||
  fail "deleted wallet still there"
serving=$(timed_stop portfolio-check)
if podman logs portfolio-check 2>&1 | grep -q Traceback; then
  podman logs portfolio-check >&2; fail "a traceback in the log"
fi
say "serving: live, ready, uid $uid, health check, wallet round trip; SIGTERM stop in ${serving} s"

start portfolio-early "$(free_port)"
sleep 0.5
early=$(timed_stop portfolio-early)
say "a stop 0.5 s after start took ${early} s"
say "ok"
