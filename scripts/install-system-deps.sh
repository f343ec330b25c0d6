#!/usr/bin/env bash
# Debian packages the test suite needs on a fresh machine:
#   postgresql  - a real server, started by the test fixture for the PostgreSQL source.
set -euo pipefail
have_postgres() {
    command -v pg_ctl >/dev/null 2>&1 && return 0
    ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
}
if ! have_postgres; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
