#!/usr/bin/env bash
# The README's test command: installs what it needs (the wasm32 target;
# Chromium and chromedriver for the web console's browser tests, where it
# can; Schemathesis from PyPI into a virtualenv under target/), builds the
# WASM modules, runs every test of the workspace and then the API fuzz run
# (scripts/api-fuzz.sh). Safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> toolchain: adding the wasm32-unknown-unknown target (idempotent)"
rustup target add wasm32-unknown-unknown

echo "==> browser: Chromium and chromedriver for the web console's tests"
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "found $(chromium --version 2>/dev/null | head -n 1) and chromedriver"
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
else
  echo "warning: cannot install Chromium here (needs Debian's apt-get as root or with sudo)." >&2
  echo "  Install chromium and chromedriver yourself (or set POLYPACT_CHROMIUM and POLYPACT_CHROMEDRIVER):" >&2
  echo "  the console's browser test fails without them; POLYPACT_SKIP_BROWSER_TESTS=1 skips it." >&2
fi

echo "==> building the example modules for wasm32"
./scripts/build-modules.sh

echo "==> running the tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  # nextest does not run doctests
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast
fi

echo "==> the API fuzz run (schemathesis against a real node's OpenAPI)"
./scripts/api-fuzz.sh
