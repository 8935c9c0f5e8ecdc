#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, user postgres, no password) and Redis (127.0.0.1:6379)
# answer for the tests: leave running servers alone, start installed ones, install missing ones
# from Debian packages. Only loopback is ever touched.
set -euo pipefail

PG_PORT=5432
REDIS_PORT=6379

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # wait_for PORT NAME
  for _ in $(seq 1 60); do listening "$1" && return 0; sleep 0.5; done
  echo "ensure-services: $2 did not come up on 127.0.0.1:$1" >&2
  return 1
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  echo "ensure-services: installing $* from Debian packages" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if ! listening "$PG_PORT"; then
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    [ -n "$version" ] || { echo "ensure-services: no PostgreSQL cluster found" >&2; return 1; }
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for "$PG_PORT" PostgreSQL
  fi
  # A freshly installed Debian cluster wants a password on TCP; tests connect as postgres
  # without one, so trust loopback connections on such a (test) machine.
  if ! psql_ok; then
    local hba
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$hba" ] && ! grep -q "portfolio-tests" "$hba"; then
      as_root sed -i '1i host all postgres 127.0.0.1/32 trust  # portfolio-tests\nhost all postgres ::1/128 trust  # portfolio-tests' "$hba"
      as_root pg_ctlcluster --skip-systemctl-redirect "$(basename "$(dirname "$(dirname "$hba")")")" main reload
    fi
    psql_ok || { echo "ensure-services: cannot connect to PostgreSQL as postgres" >&2; return 1; }
  fi
}

psql_ok() {
  if command -v psql >/dev/null; then
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -w -tAc 'select 1' >/dev/null 2>&1
  else
    listening "$PG_PORT"
  fi
}

ensure_redis() {
  listening "$REDIS_PORT" && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
    --save "" --appendonly no --dir "${TMPDIR:-/tmp}"
  wait_for "$REDIS_PORT" Redis
}

ensure_node() {
  command -v npm >/dev/null || apt_install nodejs npm
}

case "${1:-}" in
  node) ensure_node; exit 0 ;;
  wrk) command -v wrk >/dev/null || apt_install wrk; exit 0 ;;
  promtool) command -v promtool >/dev/null || apt_install prometheus; exit 0 ;;
  chromium) command -v chromium >/dev/null || apt_install chromium; exit 0 ;;
esac
ensure_postgres
ensure_redis
echo "ensure-services: PostgreSQL on 127.0.0.1:$PG_PORT and Redis on 127.0.0.1:$REDIS_PORT answer"
