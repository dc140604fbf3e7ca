#!/usr/bin/env bash
# Runs every test of the gateway, the MariaDB and Redis ones included.
#
#   scripts/test.sh          everything: lint, go test -race ./..., short fuzz runs,
#                            then the fault harness (about 2 minutes)
#   scripts/test.sh -short   no database or Redis tests (they are skipped, and say so)
#
#   GOVULNCHECK=1            also run govulncheck ./... (needs the Go vulnerability
#                            database: vuln.go.dev, or GOVULNDB=file:///path/to/a/copy)
#   GATEWAY_FAULTS_ORDERS=N  size of the fault harness (default 8000 orders per run;
#                            see docs/reliability.md)
#
# It makes sure MariaDB (127.0.0.1:3306) and Redis (127.0.0.1:6379) answer:
# it starts them when they are installed, and installs them with apt-get when
# they are not. GATEWAY_TEST_MYSQL_DSN overrides the MariaDB server to use.
# The console's browser test needs Chromium: it is installed the same way.
set -euo pipefail
cd "$(dirname "$0")/.."

short=""
for a in "$@"; do
  case "$a" in
    -short) short="-short" ;;
    *) echo "usage: scripts/test.sh [-short]" >&2; exit 2 ;;
  esac
done

log() { printf '==> %s\n' "$*"; }
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo /root/go)/bin"
command -v go >/dev/null || { echo "Go 1.26 or newer is required (https://go.dev/dl)" >&2; exit 1; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "$* is not installed and this is not root: install it, or run scripts/test.sh -short" >&2
    exit 1
  fi
  log "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # name, command…
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "$name did not come up" >&2
  exit 1
}

mysql_tcp_ok() { mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; }

ensure_mariadb() {
  if [ -n "${GATEWAY_TEST_MYSQL_DSN:-}" ]; then log "MariaDB: using GATEWAY_TEST_MYSQL_DSN"; return; fi
  command -v mariadb >/dev/null || command -v mysqld >/dev/null || apt_install mariadb-server mariadb-client
  if ! mariadb-admin --protocol=tcp -h127.0.0.1 -P3306 ping >/dev/null 2>&1; then
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    if [ ! -d /var/lib/mysql/mysql ]; then mariadb-install-db --user=mysql >/dev/null; fi
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql \
      || (mysqld_safe --user=mysql >/dev/null 2>&1 &)
    wait_for MariaDB mariadb-admin --protocol=tcp -h127.0.0.1 -P3306 ping
  fi
  if ! mysql_tcp_ok; then
    # A fresh Debian install lets root in only through the socket: give the
    # tests a user of their own over TCP.
    log "creating the gateway_test MariaDB user"
    mariadb -uroot -e "CREATE USER IF NOT EXISTS 'gateway_test'@'127.0.0.1' IDENTIFIED BY 'gateway_test';
      GRANT ALL PRIVILEGES ON *.* TO 'gateway_test'@'127.0.0.1'; FLUSH PRIVILEGES;"
    export GATEWAY_TEST_MYSQL_DSN='gateway_test:gateway_test@tcp(127.0.0.1:3306)/'
  fi
  log "MariaDB: ready"
}

ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
  fi
  log "Redis: ready"
}

ensure_chromium() {
  if ! command -v chromium >/dev/null && [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
  fi
  log "Chromium: $(chromium --version 2>/dev/null || echo installed)"
}

if [ -z "$short" ]; then
  ensure_mariadb
  ensure_redis
  ensure_chromium
fi

log "gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
go vet ./...
command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
staticcheck ./...
# The fault harness is behind a build tag: lint it with the tag.
go vet -tags faults ./faults/
staticcheck -tags faults ./faults/
if [ "${GOVULNCHECK:-}" = 1 ]; then
  log "govulncheck"
  command -v govulncheck >/dev/null || go install golang.org/x/vuln/cmd/govulncheck@v1.9.0
  govulncheck ${GOVULNDB:+-db "$GOVULNDB"} ./...
fi

log "go test -race ./... $short"
go test -race -count=1 $short ./...

log "short fuzz runs"
fuzztime=${FUZZTIME:-3s}
fuzzlog=$(mktemp)
trap 'rm -f "$fuzzlog"' EXIT
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    corpus="$dir/testdata/fuzz/$target"
    before=$(ls "$corpus" 2>/dev/null | sort || true)
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$fuzzlog" 2>&1; then
      cat "$fuzzlog" >&2
      if [ "$(ls "$corpus" 2>/dev/null | sort || true)" != "$before" ]; then
        echo "fuzz $pkg $target failed: a failing input was saved under $corpus" >&2
        exit 1
      fi
      # No failing input saved: the fuzzing engine itself gave up (a worker
      # that hung or was killed on a loaded machine). Once more, then fail.
      echo "fuzz $pkg $target: the engine failed without an input; running it again" >&2
      go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" \
        || { echo "fuzz $pkg $target failed twice" >&2; exit 1; }
    fi
    echo "fuzz ok: $pkg $target ($fuzztime)"
  done
done
# ---------------------------------------------------------------------------
# Fault harness (issue 8): builds the gateway, runs it as child processes on a
# MariaDB server of its own (a temporary datadir on a free port; the shared
# server on 3306 is never touched), SIGKILLs the gateway at random moments,
# crashes MariaDB once, with 1 and then 3 replicas, and checks from the
# database that nothing acknowledged was lost and nothing applied twice.
if [ -z "$short" ]; then
  log "fault harness: go test -tags faults ./faults/"
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
  go test -tags faults -count=1 -timeout 20m -v -run '^TestFaults$' ./faults/
else
  log "fault harness skipped (-short: it needs MariaDB)"
fi
log "all tests passed"
