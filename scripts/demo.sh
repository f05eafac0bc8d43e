#!/usr/bin/env bash
# The README's main command: on a fresh machine, installs the wasm target,
# builds the standard modules and the node, then runs `polypact testnet demo`:
# three nodes as separate processes on loopback, a joint venture created
# across them over libp2p, a short story (revenue, payout, admitting a partner
# by vote, a partner leaving), and every partner's final state root.
# Extra arguments go to the demo (e.g. --keep to leave the testnet running).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown
./scripts/build-modules.sh
cargo build -p polypact --bin polypact
exec ./target/debug/polypact testnet demo "$@"
