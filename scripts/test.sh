#!/usr/bin/env bash
# The single test command (see README): every tier, non-zero exit on any failure.
#
#   bash scripts/test.sh [PYTEST-ARGS...]
#
# 1. scripts/prereqs.sh (idempotent: build tools, DCMTK, GDCM, the Python venv
#    and the pydicom corpus in .interop-cache/);
# 2. hermetic tier: cargo test --workspace;
# 3. cargo build --release;
# 4. interop tier: pytest tests/interop against the release binary. Extra
#    arguments go to pytest (e.g. -k transcode, -x).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }

step "prerequisites"
bash scripts/prereqs.sh

step "spec vectors: independent Python reference (spec/reference/canon_v1.py)"
python3 spec/reference/canon_v1.py check spec/vectors/canon/

step "hermetic tier: cargo test --workspace"
cargo test --workspace

step "cargo build --release"
cargo build --release

# Honour CARGO_TARGET_DIR / build.target-dir: ask cargo where the binary is.
target_dir="$(cargo metadata --format-version 1 --no-deps |
    .interop-cache/venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
export SCANSEAL_BIN="$target_dir/release/scanseal"
[ -x "$SCANSEAL_BIN" ] || { echo "test.sh: $SCANSEAL_BIN not built" >&2; exit 1; }

step "interop tier: pytest tests/interop (SCANSEAL_BIN=$SCANSEAL_BIN)"
.interop-cache/venv/bin/python -m pytest tests/interop "$@"

step "all tiers passed"
