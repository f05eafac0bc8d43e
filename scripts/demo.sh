#!/usr/bin/env bash
# The README's main command: builds the modules and runs the demo partnership.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown
./scripts/build-modules.sh
cargo run -p polypact -- demo
