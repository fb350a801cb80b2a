#!/usr/bin/env bash
# Makes sure nginx is installed (Debian's package), as scripts/postgres.sh does for PostgreSQL.
# Prints the nginx binary's path. engine/tests/scale_out.rs runs it when nginx is missing;
# benches/run.sh installs it on its own. Starts nothing: each user writes its own config and
# runs nginx on loopback with `-p <its dir>`.
set -euo pipefail
find_nginx() {
  command -v nginx 2>/dev/null && return 0
  [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx && return 0
  return 1
}
if ! find_nginx >/dev/null; then
  echo "installing nginx from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq nginx-light >/dev/null 2>&1 || apt-get install -y -qq nginx >/dev/null
fi
find_nginx || { echo "nginx not found after install" >&2; exit 1; }
