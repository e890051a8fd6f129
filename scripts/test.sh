#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what it needs (system
# libraries, the project with every extra, the throwaway test servers), makes
# sure the machine's PostgreSQL, MariaDB and Redis are up, then runs lint, type
# checks, the tests and the benchmarks in short mode. Extra arguments go to
# pytest, e.g. `scripts/test.sh -m "not live"`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

step() { printf '\n==> %s\n' "$*"; }

# --- system libraries: mysqlclient/mariadb compile against libmariadb, pyodbc
# against unixODBC; tdsodbc is the FreeTDS ODBC driver the SQL Server tests use
missing=()
for package in libmariadb-dev pkg-config unixodbc-dev tdsodbc; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "run as root, or install first: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

# --- the project and every extra, in .venv
if [ ! -x .venv/bin/python ]; then
    step "python -m venv .venv"
    "$PYTHON" -m venv .venv
fi
step "pip install -e '.[all,dev]'"
.venv/bin/python -m pip install -q --upgrade pip </dev/null
.venv/bin/python -m pip install -q -e '.[all,dev]' </dev/null

# --- throwaway servers (Cassandra, MongoDB-wire) the tests start themselves
step "test servers"
PYTHON="$PYTHON" scripts/install-test-servers.sh

# --- the machine's own servers: start them if they stopped
step "PostgreSQL, MariaDB and Redis"
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
if ! mariadb-admin --protocol=tcp -h 127.0.0.1 -uroot ping >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    if [ -f /etc/redis/redis.conf ]; then
        redis-server /etc/redis/redis.conf --daemonize yes
    else
        redis-server --bind 127.0.0.1 --port 6379 --daemonize yes
    fi
fi
for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 \
        && mariadb-admin --protocol=tcp -h 127.0.0.1 -uroot ping >/dev/null 2>&1 \
        && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
    sleep 1
done
pg_isready -h 127.0.0.1 -p 5432
mariadb-admin --protocol=tcp -h 127.0.0.1 -uroot ping
redis-cli -h 127.0.0.1 -p 6379 ping

step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

step "mypy"
.venv/bin/mypy

step "import-linter (layers, independent backends, no cycles)"
.venv/bin/lint-imports

step "pytest"
# exit code 5 (no tests collected) fails this script like any other non-zero code
.venv/bin/python -m pytest "$@"

step "the example application's tests (unifydb's pytest plugin): serially, then in 2 workers"
for workers in 0 2; do
    .venv/bin/python -m tests.servers.run ORDERS_MONGO_URL -- \
        .venv/bin/python -m pytest examples/orders_app -n "$workers"
done

step "benchmarks (short mode: small counts, so they never rot; figures in docs/benchmarks.md)"
.venv/bin/python -m bench --short
.venv/bin/python -m bench.testing --rounds 1 --tests 5
