#!/usr/bin/env bash
# Fuzz scanseal's parsers with cargo-fuzz (libFuzzer + AddressSanitizer): see fuzz/README.md.
#
#   bash scripts/fuzz.sh [TARGET...]      default: every target in fuzz/fuzz_targets/
#
#   FUZZ_SECONDS   seconds per target (default 60)
#
# 1. installs cargo-fuzz if missing (cargo install cargo-fuzz --locked);
# 2. builds the seed corpora fuzz/corpus/<target>/ from real files: examples/ct-slice.dcm,
#    the .dcm files of spec/vectors/, the pydicom test files (.interop-cache/, from
#    scripts/prereqs.sh), synthetic fixtures (crates/fixtures), copies of them sealed with
#    keys-example/example-ct-01.key (embedded and sidecar), and for seal_parse the sidecars and
#    the CBOR files of spec/vectors/. Seeds over 1 MiB are skipped;
# 3. runs each target for FUZZ_SECONDS (cargo fuzz's default build: release with debug
#    assertions, AddressSanitizer), one process, no -jobs;
#    libFuzzer's output goes to fuzz/target/fuzz-logs/<target>.log;
# 4. prints one table (target, seconds, executions, corpus size, crashes) and exits non-zero
#    if any target found a crash, leak, timeout or out-of-memory input, naming the artifact.
#
# The toolchain is rustup's stable one: cargo fuzz needs nightly features (sanitizers), which
# RUSTC_BOOTSTRAP=1 unlocks. The corpora and artifacts stay in fuzz/ (git-ignored), so a later
# run starts from what earlier runs found.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
MAX_LEN=1048576 # 1 MiB: libFuzzer's -max_len, and the largest seed kept
export RUSTC_BOOTSTRAP=1

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'fuzz.sh: %s\n' "$*" >&2; exit 2; }

case "$FUZZ_SECONDS" in
    '' | *[!0-9]*) die "FUZZ_SECONDS must be a whole number of seconds, not '$FUZZ_SECONDS'" ;;
esac

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

all_targets=()
for file in fuzz/fuzz_targets/*.rs; do
    name="$(basename "$file" .rs)"
    all_targets+=("$name")
done
if [ $# -gt 0 ]; then
    targets=("$@")
    for target in "${targets[@]}"; do
        [ -f "fuzz/fuzz_targets/$target.rs" ] || die "no fuzz target '$target' (have: ${all_targets[*]})"
    done
else
    targets=("${all_targets[@]}")
fi

# ------------------------------------------------------------ cargo-fuzz ------
if ! cargo fuzz --version >/dev/null 2>&1; then
    step "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# ------------------------------------------------------------ seeds ------
PYDICOM_FILES=".interop-cache/pydicom-3.0.2/pydicom/data/test_files"
if ! compgen -G "$PYDICOM_FILES/*.dcm" >/dev/null; then
    step "pydicom test files missing: scripts/prereqs.sh"
    bash scripts/prereqs.sh
fi

step "building scanseal and the fixture writer (release)"
cargo build --release -q -p scanseal --bin scanseal -p scanseal-fixtures --example write_fixture
target_dir="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
SCANSEAL="$target_dir/release/scanseal"
WRITE_FIXTURE="$target_dir/release/examples/write_fixture"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plain" "$work/sealed" "$work/sidecar" "$work/cbor"

# add_seed DIR FILE NAME: copies FILE into DIR as NAME unless it is over MAX_LEN bytes.
skipped=0
add_seed() {
    local size
    size="$(stat -c %s "$2")"
    if [ "$size" -gt "$MAX_LEN" ]; then
        skipped=$((skipped + 1))
        return 0
    fi
    cp "$2" "$1/$3"
}

step "collecting seed files"
# Plain DICOM files, flattened under unique names.
add_seed "$work/plain" examples/ct-slice.dcm example-ct-slice.dcm
while IFS= read -r -d '' file; do
    name="vector-$(echo "${file#spec/vectors/}" | tr '/' '_')"
    add_seed "$work/plain" "$file" "$name"
done < <(find spec/vectors -name '*.dcm' -print0 | sort -z)
for file in "$PYDICOM_FILES"/*.dcm; do
    add_seed "$work/plain" "$file" "pydicom-$(basename "$file")"
done
for encoding in explicit implicit big deflated rle; do
    "$WRITE_FIXTURE" 64 48 2 "$encoding" "$work/plain/fixture-64x48x2-$encoding.dcm"
    "$WRITE_FIXTURE" 7 5 1 "$encoding" "$work/plain/fixture-7x5x1-$encoding.dcm"
done
"$WRITE_FIXTURE" 256 256 3 rle "$work/plain/fixture-256x256x3-rle.dcm"

# Sealed copies (embedded and sidecar) of the files scanseal can seal: the verify path with a
# trusted signer. Files it cannot seal (not readable, already sealed, ...) are skipped.
key="$work/example-ct-01.key"
cp keys-example/example-ct-01.key "$key"
chmod 600 "$key"
mkdir -p "$work/to-seal"
for file in "$work"/plain/*; do
    name="$(basename "$file")"
    case "$name" in
        example-* | vector-* | fixture-7x5* | fixture-64x48x2-* | pydicom-CT_small.dcm | \
            pydicom-MR_small*.dcm | pydicom-JPEG2000.dcm | pydicom-emri_small*.dcm | \
            pydicom-SC_rgb*.dcm | pydicom-image_dfl.dcm | pydicom-JPGLosslessP14SV1_1s_1f_8b.dcm | \
            pydicom-rtdose*.dcm | pydicom-liver*.dcm)
            cp "$file" "$work/to-seal/$name" ;;
    esac
done
"$SCANSEAL" sign --key "$key" --device-id FUZZ-SEED --out "$work/sealed" "$work/to-seal" \
    >"$work/sign.log" 2>&1 || true
"$SCANSEAL" sign --key "$key" --sidecar "$work/to-seal" >"$work/sidecar.log" 2>&1 || true
for file in "$work"/to-seal/*.seal; do
    [ -e "$file" ] || continue
    mv "$file" "$work/sidecar/"
done
sealed_count="$(find "$work/sealed" -type f | wc -l)"
sidecar_count="$(find "$work/sidecar" -type f | wc -l)"
[ "$sealed_count" -gt 0 ] || { cat "$work/sign.log" >&2; die "scanseal sign sealed no seed file"; }
printf 'sealed %s files (embedded), %s sidecars\n' "$sealed_count" "$sidecar_count" >&2

while IFS= read -r -d '' file; do
    name="vector-$(echo "${file#spec/vectors/}" | tr '/' '_')"
    add_seed "$work/cbor" "$file" "$name"
done < <(find spec/vectors/seal spec/vectors/deid -name '*.cbor' -print0 | sort -z)

# seed_into TARGET DIR...: every file of the DIRs into fuzz/corpus/TARGET (same name, same
# content: re-running is idempotent).
seed_into() {
    local target="$1" dir file
    shift
    mkdir -p "fuzz/corpus/$target"
    for dir in "$@"; do
        while IFS= read -r -d '' file; do
            add_seed "fuzz/corpus/$target" "$file" "seed-$(basename "$dir")-$(basename "$file")"
        done < <(find "$dir" -type f -print0)
    done
}
seed_into canonicalize "$work/plain" "$work/sealed"
seed_into roundtrip "$work/plain" "$work/sealed"
seed_into verify_file "$work/plain" "$work/sealed"
seed_into seal_parse "$work/sidecar" "$work/cbor" "$work/sealed"
[ "$skipped" -eq 0 ] || printf 'skipped %s seed copies over %s bytes\n' "$skipped" "$MAX_LEN" >&2

# ------------------------------------------------------------ fuzzing ------
# The fuzz package builds into fuzz/target (its own workspace, git-ignored), whatever
# CARGO_TARGET_DIR says for the main workspace: sanitizer builds share nothing with it.
fuzz() { (cd fuzz && env -u CARGO_TARGET_DIR cargo fuzz "$@"); }

step "building the fuzz targets (cargo fuzz build)"
fuzz build

# libFuzzer's full output, kept for a look afterwards (fuzz/target is git-ignored).
logs="fuzz/target/fuzz-logs"
mkdir -p "$logs"
declare -A seconds executions corpus crashes artifact
failed=0
for target in "${targets[@]}"; do
    step "fuzzing $target for ${FUZZ_SECONDS}s"
    log="$logs/$target.log"
    start=$SECONDS
    status=0
    fuzz run "$target" -- \
        -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
        -max_len="$MAX_LEN" -print_final_stats=1 >"$log" 2>&1 || status=$?
    seconds[$target]=$((SECONDS - start))
    grep -E '^(#[0-9]+ +(INITED|DONE)|Done [0-9]+ runs|stat::number_of_executed_units)' "$log" >&2 || true
    executions[$target]="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
    corpus[$target]="$(find "fuzz/corpus/$target" -type f | wc -l)"
    found="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")"
    if [ -n "$found" ] || [ "$status" -ne 0 ]; then
        failed=1
        crashes[$target]="$(printf '%s\n' "$found" | grep -c . || true)"
        [ "${crashes[$target]}" -gt 0 ] || crashes[$target]="?"
        artifact[$target]="${found:-none written (exit status $status; see the log below)}"
        # The report: from the sanitizer's or libFuzzer's error line (or the panic) on.
        echo "---- $target: libFuzzer's report (all of it: $log) ----" >&2
        first="$(grep -n -m 1 -E '^==[0-9]+==|panicked at|ERROR: libFuzzer|ALARM: working' "$log" |
            cut -d: -f1 || true)"
        tail -n +"${first:-1}" "$log" | grep -v -E '^ +#[0-9]+ 0x[0-9a-f]+ in (fuzzer::|std::|__rust|main |_start|__libc)' |
            head -n 80 >&2
    else
        crashes[$target]=0
    fi
done

step "fuzzing summary (FUZZ_SECONDS=$FUZZ_SECONDS)"
printf '%-14s %8s %12s %8s %8s\n' target seconds executions corpus crashes
for target in "${targets[@]}"; do
    printf '%-14s %8s %12s %8s %8s\n' "$target" "${seconds[$target]}" \
        "${executions[$target]:-?}" "${corpus[$target]}" "${crashes[$target]}"
done
if [ "$failed" -ne 0 ]; then
    echo >&2
    for target in "${targets[@]}"; do
        [ "${crashes[$target]}" = 0 ] && continue
        printf 'FAILED %s: %s\n' "$target" "${artifact[$target]}" >&2
        printf '  reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run %s %s)\n' \
            "$target" "$(printf '%s\n' "${artifact[$target]}" | head -n 1)" >&2
    done
    exit 1
fi
echo "no crash, leak, timeout or out-of-memory input found" >&2
