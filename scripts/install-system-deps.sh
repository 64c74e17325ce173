#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real, when missing: headless Chromium and its
# driver (the dashboard test) and a PostgreSQL server (the store tests start their own cluster).
# Used by `make test` and `.ci/run`. Without root or sudo it stops at once with the command to run.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ "${#need[@]}" -eq 0 ] && exit 0

echo "install-system-deps: installing ${need[*]}: the tests drive a real headless Chromium" \
     "(dashboard) and a real PostgreSQL server (store)" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "install-system-deps: cannot install without root or password-less sudo; run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
echo "install-system-deps: installed ${need[*]}" >&2
