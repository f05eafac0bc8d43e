#!/usr/bin/env bash
# The API fuzz run: Schemathesis (from PyPI, in a virtualenv under target/)
# generates requests from the OpenAPI description a real node serves, valid
# and invalid, and checks every answer against it with every check on: the
# schema must state what the server enforces, and the server enforce what
# the schema states. The event stream (server-sent events, endless) is left
# out. Settings and the reasons for them: scripts/schemathesis.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "==> api fuzz: installing schemathesis into $venv"
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian ships venv/ensurepip separately; install them as test.sh does chromium.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
      echo "api fuzz needs python3's venv module: install python3-venv" >&2
      exit 1
    fi
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==4.32.5"
fi
cargo build --quiet -p polypact

home=$(mktemp -d)
bin=target/debug/polypact
"$bin" init --home "$home" --api 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 >/dev/null
"$bin" node --home "$home" --api 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 >"$home/node.log" 2>&1 &
node=$!
trap 'kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; rm -rf "$home"' EXIT

url=""
for _ in $(seq 1 100); do
  if [ -s "$home/api.url" ] && curl -fsS "$(cat "$home/api.url")/health" >/dev/null 2>&1; then
    url=$(cat "$home/api.url")
    break
  fi
  sleep 0.2
done
if [ -z "$url" ]; then
  echo "the node did not start; its log:" >&2
  cat "$home/node.log" >&2
  exit 1
fi

echo "==> api fuzz: schemathesis against $url"
"$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$url/openapi.json" \
  --header "Authorization: Bearer $(cat "$home/api.token")" \
  --checks all --max-examples 20 --exclude-path-regex '/events$'
