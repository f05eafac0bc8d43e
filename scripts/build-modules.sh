#!/usr/bin/env bash
# Builds every module crate under examples/modules/ for wasm32-unknown-unknown
# (release). The .wasm files land in target/wasm32-unknown-unknown/release/.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=()
for manifest in examples/modules/*/Cargo.toml; do
  [ -f "$manifest" ] || continue
  name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$manifest" | head -n 1)
  packages+=("-p" "$name")
done
if [ ${#packages[@]} -eq 0 ]; then
  echo "no modules under examples/modules/"
  exit 0
fi
# One codegen unit and LTO: modules run on every op, and whole-program
# optimisation makes them faster and smaller (`polypact module build` does the same).
CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
  cargo build --release --target wasm32-unknown-unknown "${packages[@]}"
