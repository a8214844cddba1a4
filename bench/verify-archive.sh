#!/usr/bin/env bash
# Archive verification throughput (spec/report.md): `scanseal verify` over a directory of
# sealed files on 1 and 2 worker threads, with `openssl dgst -sha256` and `cat` over the same
# bytes as the hashing and reading limits. A benchmark, not a test: it prints a table and
# never fails on the numbers.
#
#   bench/verify-archive.sh [CT_FILES] [SMALL_FILES]     (defaults 400 and 4000)
#
# Data sets, generated here: CT slices of 512 x 512 x 16 bits (about 0.5 MB each) and small
# 64 x 64 x 8-bit images (about 14 KB each with their header and seal; per-file overhead
# dominates). The page cache is
# warm (each set is read once before timing), so this measures verification, not the disk.
set -euo pipefail

CT_FILES="${1:-400}"
SMALL_FILES="${2:-4000}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/scanseal-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

cd "$ROOT"
cargo build --release --quiet --bin scanseal
cargo build --release --quiet -p scanseal-fixtures --example write_fixture
BIN="$ROOT/target/release/scanseal"
WRITE="$ROOT/target/release/examples/write_fixture"

"$BIN" keygen --out "$WORK/keys" --name bench >/dev/null 2>&1
"$BIN" trust add --store "$WORK/trust.toml" --role acquisition --not-before 2020-01-01 \
    "$WORK/keys/bench.pub" >/dev/null

make_set() { # name rows columns count
    local name="$1" rows="$2" columns="$3" count="$4"
    mkdir -p "$WORK/in-$name"
    "$WRITE" "$rows" "$columns" 1 explicit "$WORK/in-$name/0.dcm"
    for ((i = 1; i < count; i++)); do cp "$WORK/in-$name/0.dcm" "$WORK/in-$name/$i.dcm"; done
    "$BIN" sign --key "$WORK/keys/bench.key" --out "$WORK/$name" "$WORK/in-$name" >/dev/null
    rm -rf "$WORK/in-$name"
    cat "$WORK/$name"/* >/dev/null # warm the page cache
}

calc() { python3 -c "print($1)"; }

seconds() { # command...: wall-clock seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    calc "$end - $start"
}

make_set ct 512 512 "$CT_FILES"
make_set small 64 64 "$SMALL_FILES"

printf '%-40s %8s %10s %10s %12s\n' "run" "files" "files/s" "MB/s" "vs openssl"
for name in ct small; do
    dir="$WORK/$name"
    files=$(find "$dir" -type f | wc -l)
    bytes=$(find "$dir" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
    sha=$(seconds sh -c "find '$dir' -type f -print0 | xargs -0 cat | openssl dgst -sha256")
    cat_s=$(seconds sh -c "find '$dir' -type f -print0 | xargs -0 cat")
    sha_mbs=$(calc "$bytes / 1000000 / $sha")
    printf '%-40s %8d %10s %10.1f %12s\n' "$name: cat (read limit)" "$files" "-" \
        "$(calc "$bytes / 1000000 / $cat_s")" "-"
    printf '%-40s %8d %10s %10.1f %12s\n' "$name: openssl dgst -sha256 (1 thread)" "$files" "-" \
        "$sha_mbs" "1.00"
    for threads in 1 2; do
        summary=$("$BIN" verify --trust "$WORK/trust.toml" --json --threads "$threads" "$dir" |
            tail -n 1)
        fps=$(echo "$summary" | python3 -c 'import json,sys; print(json.load(sys.stdin)["files_per_second"])')
        mbs=$(echo "$summary" | python3 -c 'import json,sys; print(json.load(sys.stdin)["megabytes_per_second"])')
        intact=$(echo "$summary" | python3 -c 'import json,sys; print(json.load(sys.stdin)["verdicts"]["INTACT"])')
        [ "$intact" = "$files" ] || echo "warning: only $intact of $files INTACT" >&2
        printf '%-40s %8d %10.0f %10.1f %12.2f\n' "$name: scanseal verify -j $threads" "$files" \
            "$fps" "$mbs" "$(calc "$mbs / $sha_mbs")"
    done
done
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
