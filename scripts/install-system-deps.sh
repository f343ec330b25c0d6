#!/usr/bin/env bash
# Debian packages the test suite needs on a fresh machine:
#   postgresql              - a real server, started by the test fixture for the PostgreSQL source.
#   openjdk-17-jre-headless - Java for PySpark 4 (the Spark storage), unless Java 17 or later is there.
#   chromium                - the browser the web app's tests drive with Playwright (never a downloaded one).
set -euo pipefail
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
have_postgres() {
    command -v pg_ctl >/dev/null 2>&1 && return 0
    ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
}
have_java17() {
    command -v java >/dev/null 2>&1 || return 1
    # `java -version` prints e.g. 'openjdk version "17.0.15"' (or "1.8.0_392" for Java 8) on stderr.
    local major
    major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\.\{0,1\}.*/\1/p' | head -n 1)
    [ -n "$major" ] && [ "$major" -ge 17 ]
}
if ! have_postgres; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
if ! have_java17; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
if ! command -v chromium >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
