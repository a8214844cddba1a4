#!/usr/bin/env bash
# scanseal benchmark (issue 8). Generates its inputs, runs everything on the same files and
# prints one markdown report on stdout (progress goes to stderr). A benchmark, not a test: it
# prints numbers and never fails on them.
#
#   bash bench/run.sh            defaults below (about 3 minutes on 2 cores, plus the release build)
#   bash bench/run.sh --quick    a smoke run on small inputs (about 10 seconds, plus the build)
#
# Knobs (environment variables; --quick changes the defaults, a variable set by hand wins):
#   CT_FILES=400          CT slices, 512 x 512 x 16-bit, Explicit VR Little Endian (~0.5 MB each)
#   RLE_FILES=200         the same slices in RLE Lossless
#   BIG_FRAMES=1000       one multi-frame 512 x 512 x 16-bit Explicit VR LE file (1000: 524 MB)
#   SMALL_FILES=2000      64 x 64 8-bit images (per-file overhead)
#   LEDGER_ENTRIES=1000000  ledger size for the append / proof / audit rows
#   DCMSIGN_FILES=50      files signed and verified one process per file (dcmsign and scanseal)
#   RUNS=3                each timing is the median of RUNS runs (--quick: 1)
#   THREADS="1 2"         thread counts of the directory rows
#   CARGO_TARGET_DIR      where cargo builds (binaries in $CARGO_TARGET_DIR/release)
#   TMPDIR                where the work directory goes (needs about 4x the big file free)
#
# Needs what `bash scripts/prereqs.sh` installs: cargo, openssl, dcmsign (dcmtk), GNU time
# (/usr/bin/time), python3. bench/README.md says how to read the table.
set -euo pipefail
export LC_ALL=C

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

quick=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$arg'" >&2; usage >&2; exit 64 ;;
    esac
done

if [ "$quick" -eq 1 ]; then
    : "${CT_FILES:=40}" "${RLE_FILES:=20}" "${BIG_FRAMES:=100}" "${SMALL_FILES:=200}"
    : "${LEDGER_ENTRIES:=20000}" "${DCMSIGN_FILES:=10}" "${RUNS:=1}"
else
    : "${CT_FILES:=400}" "${RLE_FILES:=200}" "${BIG_FRAMES:=1000}" "${SMALL_FILES:=2000}"
    : "${LEDGER_ENTRIES:=1000000}" "${DCMSIGN_FILES:=50}" "${RUNS:=3}"
fi
: "${THREADS:=1 2}"

log() { printf '[bench %4ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

for knob in CT_FILES RLE_FILES BIG_FRAMES SMALL_FILES LEDGER_ENTRIES DCMSIGN_FILES RUNS; do
    value="${!knob}"
    [[ "$value" =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, not '$value'"
done
for t in $THREADS; do
    [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "THREADS must list positive integers, not '$THREADS'"
done
[ "${BASH_VERSINFO[0]}" -ge 5 ] || die "needs bash 5 or newer (EPOCHREALTIME)"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
BIN="$TARGET/release/scanseal"
WRITE_SERIES="$TARGET/release/examples/write_series"
LEDGER_BENCH="$TARGET/release/examples/ledger_bench"

missing=()
for cmd in cargo openssl dcmsign python3 sha256sum xargs awk; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (GNU time)")
[ "${#missing[@]}" -eq 0 ] ||
    die "missing: ${missing[*]}; run 'bash scripts/prereqs.sh' (installs dcmtk, openssl, time, python3)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/scanseal-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ resources ----
# Bytes per file as the generator writes them (sealed files are ~1 KB larger).
CT_BYTES=526400
RLE_BYTES=310000
SMALL_BYTES=8600
BIG_BYTES=$((BIG_FRAMES * 512 * 512 * 2 + 6000))
need=$((3 * (CT_FILES * CT_BYTES + RLE_FILES * RLE_BYTES + SMALL_FILES * SMALL_BYTES) +
    4 * BIG_BYTES + LEDGER_ENTRIES * 420 + 100000000))
free_kb=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
if [ "$((free_kb * 1024))" -lt "$need" ]; then
    die "not enough free disk in $WORK: $((free_kb / 1024)) MiB free, about $((need / 1048576)) MiB needed (4x the big file of $((BIG_BYTES / 1048576)) MiB plus the series and the ledger); set TMPDIR to a larger file system or lower BIG_FRAMES"
fi
# The fixture encoder holds the big file's samples as 64-bit values, and copies of them while it
# encodes: measured peak 6.7 GB for 1000 frames, about 26 bytes per sample.
gen_need=$((BIG_FRAMES * 512 * 512 * 26))
avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
if [ -n "$avail_kb" ] && [ "$((avail_kb * 1024))" -lt "$gen_need" ]; then
    log "warning: generating the big file needs about $((gen_need / 1048576)) MiB of memory, $((avail_kb / 1024)) MiB available"
fi

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
ROWS="$WORK/rows.tsv"
: >"$ROWS"
PHASES=()
phase() { # NAME: closes the previous phase, opens the next
    if [ -n "${PHASE_NAME:-}" ]; then
        PHASES+=("$PHASE_NAME $((SECONDS - PHASE_START)) s")
    fi
    PHASE_NAME="$1"
    PHASE_START=$SECONDS
    [ -z "$1" ] || log "== $1"
}

# Rows for the report, tab-separated; the formatter at the end computes rates and ratios.
# row ID LABEL THREADS FILES BYTES SECONDS REF_OPENSSL REF_CAT REF_DCMSIGN
row() { printf 'row\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ROWS"; }
group() { printf 'group\t%s\n' "$1" >>"$ROWS"; }
warn() {
    log "WARNING: $1"
    printf 'warn\t%s\n' "$1" >>"$ROWS"
}

# measure SETUP CMD...: runs CMD RUNS times (SETUP before each, untimed), stdout discarded,
# stderr kept in $WORK/last.err. Sets T to the median wall-clock seconds and RC to the last
# non-zero exit status (0 if every run succeeded).
measure() {
    local setup="$1" start rc i
    shift
    local times=()
    RC=0
    for ((i = 0; i < RUNS; i++)); do
        "$setup"
        start=$EPOCHREALTIME
        rc=0
        "$@" >/dev/null 2>"$WORK/last.err" || rc=$?
        times+=("$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.6f", b - a}')")
        [ "$rc" -eq 0 ] || RC=$rc
    done
    T=$(printf '%s\n' "${times[@]}" | sort -g |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
}

# checked LABEL: a warning row when the last measure failed
checked() {
    if [ "$RC" -ne 0 ]; then
        warn "$1 exited with status $RC: $(head -c 300 "$WORK/last.err" | tr '\n\t' '  ')"
    fi
}

bytes_of() { # FILE...: total size
    stat -c %s "$@" | awk '{s += $1} END {printf "%d", s}'
}
list_files() { # DIR LIST: NUL-separated sorted file list
    find "$1" -type f -print0 | sort -z >"$2"
}
warm() { xargs -0 cat <"$1" >/dev/null; }

cat_files() { xargs -0 cat <"$1"; }
openssl_files() { # LIST PROCESSES
    local n count
    count=$(tr -cd '\0' <"$1" | wc -c)
    n=$(((count + $2 - 1) / $2))
    xargs -0 -P "$2" -n "$n" openssl dgst -sha256 <"$1"
}
sha256sum_files() { xargs -0 sha256sum <"$1"; }

nothing() { :; }

# ----------------------------------------------------------------- build ----
phase build
log "building scanseal, write_series and ledger_bench (release) into $TARGET"
(
    cd "$ROOT"
    cargo build --release --quiet --bin scanseal
    cargo build --release --quiet -p scanseal-fixtures --example write_series
    cargo build --release --quiet -p scanseal-ledger --example ledger_bench
) >&2

# ----------------------------------------------------------- generate ----
phase generate
"$BIN" keygen --out "$WORK/keys" --name bench >/dev/null
KEY="$WORK/keys/bench.key"
TRUST="$WORK/trust.toml"
"$BIN" trust add --store "$TRUST" --role acquisition --not-before 2020-01-01 \
    "$WORK/keys/bench.pub" >/dev/null
# dcmsign's key and self-signed certificate (made first: DCMTK refuses a signature made in the
# same second as the certificate's notBefore).
RSA_KEY="$WORK/rsa/key.pem"
RSA_CRT="$WORK/rsa/cert.pem"
mkdir -p "$WORK/rsa"
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 3650 -subj "/CN=scanseal bench" \
    -keyout "$RSA_KEY" -out "$RSA_CRT" 2>/dev/null
log "generating $CT_FILES CT slices, $RLE_FILES RLE slices, $SMALL_FILES small images"
"$WRITE_SERIES" "$WORK/src/ct" "$CT_FILES" 512 512 1 explicit
"$WRITE_SERIES" "$WORK/src/rle" "$RLE_FILES" 512 512 1 rle
"$WRITE_SERIES" "$WORK/src/small" "$SMALL_FILES" 64 64 1 explicit mono8
log "generating the big file ($BIG_FRAMES frames, $((BIG_BYTES / 1000000)) MB)"
"$WRITE_SERIES" "$WORK/src/big" 1 512 512 "$BIG_FRAMES" explicit
sleep 1

# -------------------------------------------------------- per data set ----
# bench_set SET: directory (or, for big, single-file) sign and verify rows and their limits.
bench_set() {
    local set="$1" src="$WORK/src/$1" sealed="$WORK/sealed/$1" t target
    local src_list="$WORK/$1.src" list="$WORK/$1.sealed"
    list_files "$src" "$src_list"
    local files src_bytes
    files=$(tr -cd '\0' <"$src_list" | wc -c)
    src_bytes=$(xargs -0 stat -c %s <"$src_list" | awk '{s += $1} END {printf "%d", s}')
    target="$src"
    [ "$set" != big ] || target="$src/0000.dcm"
    warm "$src_list"

    # Sign: the first thread count's output is the verified set.
    local first=1
    for t in $THREADS; do
        local out="$WORK/scratch"
        [ "$first" -eq 0 ] || out="$sealed"
        clear_out() { rm -rf "$out"; }
        log "$set: scanseal sign --threads $t"
        measure clear_out "$BIN" sign --threads "$t" --key "$KEY" --out "$out" "$target"
        checked "$set: scanseal sign --threads $t"
        row "$set.sign.$t" "scanseal sign (outputs fsynced)" "$t" "$files" "$src_bytes" "$T" \
            "$set.openssl.$t" "$set.cat" "$([ "$t" = 1 ] && echo "dcmsign.$set.sign")"
        [ "$first" -eq 1 ] || rm -rf "$out"
        first=0
    done
    list_files "$sealed" "$list"
    local bytes
    bytes=$(xargs -0 stat -c %s <"$list" | awk '{s += $1} END {printf "%d", s}')

    # Every file must verify INTACT before verification is timed.
    local verify_target="$sealed"
    [ "$set" != big ] || verify_target="$sealed/0000.dcm"
    "$BIN" verify --trust "$TRUST" --json "$verify_target" >"$WORK/check.json" 2>"$WORK/last.err" || true
    local intact
    intact=$(python3 -c '
import json, sys
try:
    lines = open(sys.argv[1]).read().splitlines()
    print(json.loads(lines[-1])["verdicts"].get("INTACT", 0))
except Exception:
    print(0)' "$WORK/check.json")
    if [ "$intact" != "$files" ]; then
        warn "$set: only $intact of $files sealed files verify INTACT ($(tail -n 1 "$WORK/check.json" | head -c 300))"
    fi

    log "$set: limits (cat, openssl, sha256sum)"
    warm "$list"
    measure nothing cat_files "$list"
    checked "$set: cat"
    row "$set.cat" "cat >/dev/null (read limit)" 1 "$files" "$bytes" "$T" "" "$set.cat" ""
    for t in $THREADS; do
        if [ "$set" = big ] && [ "$t" != 1 ]; then
            continue # one file is one openssl process; the note under the table says so
        fi
        measure nothing openssl_files "$list" "$t"
        checked "$set: openssl dgst -sha256 x $t"
        local what="openssl dgst -sha256"
        [ "$t" = 1 ] || what="openssl dgst -sha256, $t processes"
        row "$set.openssl.$t" "$what" "$t" "$files" "$bytes" "$T" "$set.openssl.$t" "$set.cat" ""
    done
    if [ "$set" = big ]; then
        for t in $THREADS; do
            [ "$t" = 1 ] || printf 'alias\t%s\t%s\n' "$set.openssl.$t" "$set.openssl.1" >>"$ROWS"
        done
    fi
    measure nothing sha256sum_files "$list"
    checked "$set: sha256sum"
    row "$set.sha256sum" "sha256sum (coreutils, for context)" 1 "$files" "$bytes" "$T" \
        "$set.openssl.1" "$set.cat" ""

    for t in $THREADS; do
        log "$set: scanseal verify -j $t"
        measure nothing "$BIN" verify --trust "$TRUST" --threads "$t" "$verify_target"
        checked "$set: scanseal verify -j $t"
        row "$set.verify.$t" "scanseal verify" "$t" "$files" "$bytes" "$T" \
            "$set.openssl.$t" "$set.cat" "$([ "$t" = 1 ] && echo "dcmsign.$set.verify")"
    done

    # With a ledger: sign records every seal (one transaction per batch), verify looks every
    # file up and checks its inclusion proof.
    if [ "$set" = ct ]; then
        local db="$WORK/ct-ledger.db" out="$WORK/scratch-ledger"
        for t in $THREADS; do
            clear_ledger() { rm -rf "$out" "$db" "$db-wal" "$db-shm" && "$BIN" ledger init "$db" >/dev/null; }
            log "$set: scanseal sign --ledger --threads $t"
            measure clear_ledger "$BIN" sign --threads "$t" --ledger "$db" --key "$KEY" --out "$out" "$target"
            checked "$set: scanseal sign --ledger --threads $t"
            row "$set.sign.ledger.$t" "scanseal sign --ledger" "$t" "$files" "$src_bytes" "$T" \
                "$set.openssl.$t" "$set.cat" ""
        done
        for t in $THREADS; do
            log "$set: scanseal verify --ledger -j $t"
            measure nothing "$BIN" verify --trust "$TRUST" --ledger "$db" --threads "$t" "$out"
            checked "$set: scanseal verify --ledger -j $t"
            row "$set.verify.ledger.$t" "scanseal verify --ledger" "$t" "$files" "$bytes" "$T" \
                "$set.openssl.$t" "$set.cat" ""
        done
        rm -rf "$out" "$db" "$db-wal" "$db-shm"
    fi
}

# Same files, one process per file (the way dcmsign works): the first DCMSIGN_FILES files.
pp_cat() { local f; for f; do cat "$f" || return; done; }
pp_openssl() { local f; for f; do openssl dgst -sha256 "$f" || return; done; }
pp_verify() { local f; for f; do "$BIN" verify --trust "$TRUST" "$f" || return; done; }
pp_sign() { local f; for f; do "$BIN" sign --key "$KEY" --out "$WORK/pp-sign" "$f" || return; done; }
clear_pp_sign() { rm -rf "$WORK/pp-sign"; }

bench_per_process() { # SET
    local set="$1" sources=() sealed=() n src_bytes bytes
    mapfile -d '' -t sources <"$WORK/$set.src"
    mapfile -d '' -t sealed <"$WORK/$set.sealed"
    n=$DCMSIGN_FILES
    [ "$n" -le "${#sources[@]}" ] || n=${#sources[@]}
    sources=("${sources[@]:0:n}")
    sealed=("${sealed[@]:0:n}")
    src_bytes=$(bytes_of "${sources[@]}")
    bytes=$(bytes_of "${sealed[@]}")
    log "$set: one process per file ($n files)"
    warm "$WORK/$set.sealed"
    measure nothing pp_cat "${sealed[@]}"
    checked "$set: cat per file"
    row "$set.pp.cat" "cat, one process per file" 1 "$n" "$bytes" "$T" "" "$set.pp.cat" ""
    measure nothing pp_openssl "${sealed[@]}"
    checked "$set: openssl per file"
    row "$set.pp.openssl" "openssl dgst -sha256, one process per file" 1 "$n" "$bytes" "$T" \
        "$set.pp.openssl" "$set.pp.cat" ""
    measure nothing pp_verify "${sealed[@]}"
    checked "$set: scanseal verify per file"
    row "$set.pp.verify" "scanseal verify, one process per file" 1 "$n" "$bytes" "$T" \
        "$set.pp.openssl" "$set.pp.cat" "dcmsign.$set.verify"
    measure clear_pp_sign pp_sign "${sources[@]}"
    checked "$set: scanseal sign per file"
    row "$set.pp.sign" "scanseal sign, one process per file" 1 "$n" "$src_bytes" "$T" \
        "$set.pp.openssl" "$set.pp.cat" "dcmsign.$set.sign"
    rm -rf "$WORK/pp-sign"
}

# ------------------------------------------------------------- dcmsign ----
DCMSIGN_SIGN=(dcmsign --sign "$RSA_KEY" "$RSA_CRT" --mac-sha256 --profile-none --null-passwd)
DCMSIGN_VERIFY=(dcmsign --verify --require-sig --add-cert-file "$RSA_CRT")
dcm_sign() { # OUTDIR FILE...
    local out="$1" f
    shift
    for f; do "${DCMSIGN_SIGN[@]}" "$f" "$out/${f##*/}" || return; done
}
dcm_verify() { # FILE... (each verdict appended to $WORK/dcmsign.log)
    local f
    for f; do "${DCMSIGN_VERIFY[@]}" "$f" 2>>"$WORK/dcmsign.log" || return; done
}
clear_dcm_out() { rm -rf "$WORK/dcmsign-out"; mkdir -p "$WORK/dcmsign-out"; }
clear_dcm_log() { : >"$WORK/dcmsign.log"; }

bench_dcmsign() { # SET
    local set="$1" sources=() n bytes signed=() ok
    mapfile -d '' -t sources <"$WORK/$set.src"
    n=$DCMSIGN_FILES
    [ "$set" != big ] || n=1
    [ "$n" -le "${#sources[@]}" ] || n=${#sources[@]}
    sources=("${sources[@]:0:n}")
    bytes=$(bytes_of "${sources[@]}")
    log "dcmsign: $set, sign and verify $n file(s)"
    warm "$WORK/$set.src"
    measure clear_dcm_out dcm_sign "$WORK/dcmsign-out" "${sources[@]}"
    checked "dcmsign sign $set"
    row "dcmsign.$set.sign" "dcmsign sign, $set" 1 "$n" "$bytes" "$T" "" "" ""
    mapfile -d '' -t signed < <(find "$WORK/dcmsign-out" -type f -print0 | sort -z)
    bytes=$(bytes_of "${signed[@]}")
    measure clear_dcm_log dcm_verify "${signed[@]}"
    checked "dcmsign verify $set"
    ok=$(grep -c 'Signature Verification *: OK' "$WORK/dcmsign.log" || true)
    [ "$ok" = "$n" ] ||
        warn "dcmsign verify $set: $ok of $n signatures reported OK ($(head -c 300 "$WORK/dcmsign.log" | tr '\n\t' '  '))"
    row "dcmsign.$set.verify" "dcmsign verify, $set" 1 "$n" "$bytes" "$T" "" "" ""
    rm -rf "$WORK/dcmsign-out"
}

# ------------------------------------------------------------ peak RSS ----
rss() { # ID LABEL FILE_BYTES CMD...: peak RSS of one run
    local id="$1" label="$2" file_bytes="$3" start kb
    shift 3
    start=$EPOCHREALTIME
    RC=0
    /usr/bin/time -f %M -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/last.err" || RC=$?
    T=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.6f", b - a}')
    checked "$label"
    kb=$(tail -n 1 "$WORK/rss")
    [[ "$kb" =~ ^[0-9]+$ ]] || kb=0
    printf 'rss\t%s\t%s\t%s\t%s\t%s\n' "$id" "$label" "$file_bytes" "$T" "$kb" >>"$ROWS"
}

# ---------------------------------------------------------------- runs ----
for set in ct rle small big; do
    case "$set" in
        ct) group "ct: $CT_FILES CT slices, 512 x 512 x 16-bit, Explicit VR Little Endian" ;;
        rle) group "rle: $RLE_FILES CT slices, 512 x 512 x 16-bit, RLE Lossless" ;;
        small) group "small: $SMALL_FILES images, 64 x 64 x 8-bit, Explicit VR Little Endian" ;;
        big) group "big: one file, $BIG_FRAMES frames of 512 x 512 x 16-bit, Explicit VR Little Endian" ;;
    esac
    phase "$set"
    bench_set "$set"
    if [ "$set" = ct ] || [ "$set" = rle ]; then
        bench_per_process "$set"
    fi
done

phase dcmsign
group "dcmsign $(dcmsign --version 2>/dev/null | awk 'NR == 1 {print $3}'): RSA-2048, SHA-256, profile none, one process per file"
for set in ct rle big; do
    bench_dcmsign "$set"
done

phase "peak RSS"
group "peak RSS (GNU time), big file"
big_src="$WORK/src/big/0000.dcm"
big_sealed="$WORK/sealed/big/0000.dcm"
rss rss.verify "scanseal verify" "$(bytes_of "$big_sealed")" \
    "$BIN" verify --trust "$TRUST" "$big_sealed"
rm -rf "$WORK/rss-out"
rss rss.sign "scanseal sign" "$(bytes_of "$big_src")" \
    "$BIN" sign --key "$KEY" --out "$WORK/rss-out" "$big_src"
rm -rf "$WORK/rss-out"
mkdir -p "$WORK/rss-out"
rss rss.dcmsign.sign "dcmsign sign" "$(bytes_of "$big_src")" \
    "${DCMSIGN_SIGN[@]}" "$big_src" "$WORK/rss-out/big.dcm"
rss rss.dcmsign.verify "dcmsign verify" "$(bytes_of "$WORK/rss-out/big.dcm")" \
    "${DCMSIGN_VERIFY[@]}" "$WORK/rss-out/big.dcm"
rm -rf "$WORK/rss-out" "$WORK/sealed/big" "$WORK/src/big"

phase ledger
group "ledger: $LEDGER_ENTRIES entries"
mkdir -p "$WORK/ledger"
log "ledger: ledger_bench $LEDGER_ENTRIES (the library: batched appends, durable appends, proofs, audit)"
RC=0
"$LEDGER_BENCH" "$LEDGER_ENTRIES" "$WORK/ledger" >"$WORK/ledger.md" 2>"$WORK/last.err" || RC=$?
checked "ledger_bench"
DB="$WORK/ledger/bench-ledger.db"
if [ "$RC" -eq 0 ]; then
    printf 'ledger_md\t%s\n' "$WORK/ledger.md" >>"$ROWS"
    size=$("$BIN" ledger info "$DB" | awk '$1 == "entries" {print $2}')
    log "ledger: CLI on the $size-entry ledger"
    measure nothing "$BIN" ledger verify "$DB"
    checked "scanseal ledger verify"
    row ledger.cli.verify "CLI: scanseal ledger verify" 1 "$size" "" "$T" "" "" ""
    "$BIN" trust add --store "$WORK/ledger-trust.toml" --role ledger --not-before 2020-01-01 \
        "$WORK/ledger/bench-ledger.pub" >/dev/null
    measure nothing "$BIN" ledger verify --trust "$WORK/ledger-trust.toml" \
        --checkpoint "$WORK/ledger/bench-ledger.checkpoint" "$DB"
    checked "scanseal ledger verify --trust --checkpoint"
    row ledger.cli.verify.trust "CLI: scanseal ledger verify --trust --checkpoint" 1 \
        "$size" "" "$T" "" "" ""
    clear_proof() { rm -f "$WORK/entry.tlog-proof"; }
    measure clear_proof "$BIN" ledger prove --seq "$((size / 2))" --out "$WORK/entry.tlog-proof" "$DB"
    checked "scanseal ledger prove"
    row ledger.cli.prove "CLI: scanseal ledger prove --seq N (one proof)" 1 1 "" "$T" "" "" ""
    measure nothing "$BIN" verify-proof --trust "$WORK/ledger-trust.toml" "$WORK/entry.tlog-proof"
    checked "scanseal verify-proof"
    row ledger.cli.verify-proof "CLI: scanseal verify-proof (one proof)" 1 1 "" "$T" "" "" ""
fi
rm -rf "$WORK/ledger"
phase ""

# ----------------------------------------------------------------- report ----
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ "$commit" != unknown ] && [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit-dirty"
fi
{
    printf 'cpu\t%s\n' "$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    printf 'cores\t%s\n' "$(nproc)"
    printf 'memory\t%s\n' "$(awk '/^MemTotal:/ {printf "%.1f GB", $2 * 1024 / 1e9}' /proc/meminfo)"
    printf 'kernel\t%s\n' "$(uname -sr)"
    printf 'sha_ni\t%s\n' "$(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)"
    printf 'openssl\t%s\n' "$(openssl version)"
    printf 'dcmsign\t%s\n' "$(dcmsign --version 2>/dev/null | head -n 1 | tr -d '$' | sed 's/^ *dcmtk: *//; s/ *$//')"
    printf 'sha256sum\t%s\n' "$(sha256sum --version | head -n 1)"
    printf 'rustc\t%s\n' "$(rustc --version 2>/dev/null || echo unknown)"
    printf 'commit\t%s\n' "$commit"
    printf 'work dir\t%s (%s)\n' "${TMPDIR:-/tmp}" "$(df -PT "$WORK" | awk 'NR == 2 {print $2}')"
    printf 'load average\t%s before, %s after\n' "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'knobs\tCT_FILES=%s RLE_FILES=%s BIG_FRAMES=%s SMALL_FILES=%s LEDGER_ENTRIES=%s DCMSIGN_FILES=%s RUNS=%s THREADS="%s"\n' \
        "$CT_FILES" "$RLE_FILES" "$BIG_FRAMES" "$SMALL_FILES" "$LEDGER_ENTRIES" "$DCMSIGN_FILES" "$RUNS" "$THREADS"
    printf 'run time\t%s s (%s)\n' "$SECONDS" "$(printf '%s, ' "${PHASES[@]}" | sed 's/, $//')"
} >"$WORK/machine.tsv"

log "done in $SECONDS s: ${PHASES[*]}"
python3 - "$ROWS" "$WORK/machine.tsv" "$THREADS" <<'PY'
import re
import sys

rows_path, machine_path, threads = sys.argv[1], sys.argv[2], sys.argv[3].split()
DASH = "–"
records = [line.rstrip("\n").split("\t") for line in open(rows_path, encoding="utf-8")]
data = {}
aliases = {}
for r in records:
    if r[0] == "row":
        ident, label, thr, files, nbytes, secs = r[1:7]
        data[ident] = {
            "label": label,
            "threads": thr,
            "files": int(files),
            "bytes": int(nbytes) if nbytes else None,
            "s": float(secs),
            "refs": r[7:10],
        }
    elif r[0] == "alias":
        aliases[r[1]] = r[2]


def get(ident):
    return data.get(aliases.get(ident, ident))


def mbs(d):
    if d is None or d["bytes"] is None or d["s"] <= 0:
        return None
    return d["bytes"] / 1e6 / d["s"]


def ms_per_file(d):
    if d is None or d["files"] <= 0:
        return None
    return d["s"] * 1000 / d["files"]


def num(x):
    if x is None:
        return DASH
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def secs(x):
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def ratio(x, suffix=""):
    return DASH if x is None else f"{x:.2f}{suffix}" if x < 10 else f"{x:.1f}{suffix}"


HEAD = ["run", "threads", "files", "MB", "s", "files/s", "MB/s", "ms/file",
        "vs openssl", "vs cat", "vs dcmsign"]
out = []


def line(cells):
    out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")


def data_row(d):
    rate = mbs(d)
    ref_openssl, ref_cat, ref_dcmsign = (get(x) if x else None for x in d["refs"])
    vs_openssl = rate / mbs(ref_openssl) if rate and mbs(ref_openssl) else None
    vs_cat = rate / mbs(ref_cat) if rate and mbs(ref_cat) else None
    mine = ms_per_file(d)
    theirs = ms_per_file(ref_dcmsign)
    vs_dcmsign = theirs / mine if mine and theirs else None
    line([
        d["label"], d["threads"], f"{d['files']:,}",
        num(d["bytes"] / 1e6) if d["bytes"] is not None else DASH,
        secs(d["s"]),
        num(d["files"] / d["s"]) if d["s"] > 0 else DASH,
        num(rate),
        num(mine),
        ratio(vs_openssl), ratio(vs_cat), ratio(vs_dcmsign, "×"),
    ])


def text_row(label, **cells):
    line([label] + [cells.get(k, DASH) for k in
                    ["threads", "files", "MB", "s", "files_s", "MB_s", "ms", "o", "c", "d"]])


def ledger_rows(path):
    """ledger_bench's markdown rows, numbers moved into the table's columns."""
    for raw in open(path, encoding="utf-8"):
        cells = [c.strip() for c in raw.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("ledger benchmark", "") or set(cells[0]) <= {"-"}:
            continue
        what, result = cells
        label = f"library: {what}"
        count = re.findall(r"\((\d[\d,]*)(?: entries)?\)", what)
        at = re.search(r"at (\d+)", what)
        # Seconds are recomputed from the rates, which ledger_bench prints more precisely.
        m = re.match(r"([\d.]+) entries/s \(([\d.]+) s\)", result)
        if m and count:
            n = int(count[-1].replace(",", ""))
            rate = float(m.group(1))
            text_row(label, threads="1", files=f"{n:,}", s=secs(n / rate),
                     files_s=num(rate), ms=num(1000 / rate))
            continue
        m = re.match(r"([\d.]+) entries/s, ([\d.]+) ms each", result)
        if m and count:
            n = int(count[-1].replace(",", ""))
            rate = float(m.group(1))
            text_row(label, threads="1", files=f"{n:,}", s=secs(n / rate),
                     files_s=num(rate), ms=num(float(m.group(2))))
            continue
        m = re.match(r"([\d.]+) s \(([\d.]+) entries/s\)", result)
        if m and at:
            n = int(at.group(1))
            rate = float(m.group(2))
            text_row(label, threads="1", files=f"{n:,}", s=secs(n / rate),
                     files_s=num(rate), ms=num(1000 / rate))
            continue
        m = re.match(r"([\d.]+) (µs|ms) each", result) or re.match(r"([\d.]+) (ms)$", result)
        if m:
            each = float(m.group(1)) / (1000 if m.group(2) == "µs" else 1)
            text_row(label, threads="1", ms=num(each))
            continue
        m = re.match(r"([\d.]+) MB \((.*)\)", result)
        if m:
            text_row(f"{label}, {m.group(2)}", MB=m.group(1))
            continue
        text_row(f"{label}: {result}")


line(HEAD)
line(["---"] + ["---:"] * (len(HEAD) - 1))
rss = []
for r in records:
    kind = r[0]
    if kind == "group":
        line([f"**{r[1]}**"] + [""] * (len(HEAD) - 1))
    elif kind == "warn":
        line([f"⚠ {r[1]}"] + [""] * (len(HEAD) - 1))
    elif kind == "row":
        data_row(data[r[1]])
    elif kind == "ledger_md":
        ledger_rows(r[1])
    elif kind == "rss":
        ident, label, file_bytes, seconds, kb = r[1], r[2], int(r[3]), float(r[4]), int(r[5])
        peak = kb * 1024 / 1e6
        size = file_bytes / 1e6
        rss.append((ident, peak, size))
        text_row(f"{label}: peak RSS {peak:,.0f} MB = file size {'+' if peak >= size else '−'} "
                 f"{abs(peak - size):,.0f} MB", threads=DASH, files="1", MB=num(size),
                 s=secs(seconds))
print("\n".join(out))

print()
print("Notes: MB = 10^6 bytes; page cache warm (every set read once before it is timed); each time "
      "is the median of RUNS runs, wall clock, measured outside the process. `vs openssl` and "
      "`vs cat` divide a row's MB/s by the MB/s of `openssl dgst -sha256` (the hashing limit; "
      "openssl reads the files itself, several files per process, `xargs -P N` for N threads) "
      "and of `cat` (the read limit, one process) over the same files; the one-process-per-file "
      "rows are compared with openssl and cat also run once per file. `vs dcmsign` is dcmsign's "
      "ms/file divided by the row's: speed-up over DCMTK dcmsign on the same files (its first "
      "DCMSIGN_FILES files), one process per file for dcmsign. The big file is one file, hence "
      "one openssl process: its rows for more than one thread are compared with the 1-thread "
      "openssl figure. scanseal sign writes every sealed file atomically with fsync (the numbers "
      "include it); dcmsign does not fsync. For ledger rows, files = ledger entries (or proofs). "
      "Sign MB are input bytes, verify MB sealed bytes.")

# The issue's targets, made checkable.
print()
print("### targets")
checks = []
for s in ("ct", "small", "big"):
    for t in threads:
        d = get(f"{s}.verify.{t}")
        ref = get(f"{s}.openssl.{t}")
        if d and ref and mbs(d) and mbs(ref):
            r = mbs(d) / mbs(ref)
            checks.append(f"- verify ≥ 0.60 × openssl, {s}, {t} thread(s): {r:.2f} — "
                          f"{'met' if r >= 0.6 else 'NOT met'}")
for what, scan, ref in (
    ("verify, one process per file", "ct.pp.verify", "dcmsign.ct.verify"),
    ("verify, directory, 1 thread", "ct.verify.1", "dcmsign.ct.verify"),
    ("sign, one process per file", "ct.pp.sign", "dcmsign.ct.sign"),
    ("sign, directory, 1 thread", "ct.sign.1", "dcmsign.ct.sign"),
):
    a, b = get(scan), get(ref)
    if a and b and ms_per_file(a) and ms_per_file(b):
        r = ms_per_file(b) / ms_per_file(a)
        checks.append(f"- ≥ 20 × dcmsign per CT slice, {what}: {r:.1f}× "
                      f"({ms_per_file(a):.2f} vs {ms_per_file(b):.2f} ms/file) — "
                      f"{'met' if r >= 20 else 'NOT met'}")
for ident, peak, size in rss:
    if ident == "rss.verify":
        checks.append(f"- peak RSS verifying the big file ≤ file size + 64 MB: {peak:,.0f} MB for "
                      f"{size:,.0f} MB ({peak - size:+,.0f} MB) — "
                      f"{'met' if peak <= size + 64 else 'NOT met'}")
        if size < 500:
            checks.append(f"  (the big file is {size:,.0f} MB here; the target is for ≥ 500 MB: "
                          "BIG_FRAMES ≥ 954)")
print("\n".join(checks) if checks else "- (no data)")

print()
print("### machine")
for raw in open(machine_path, encoding="utf-8"):
    key, _, value = raw.rstrip("\n").partition("\t")
    print(f"- {key}: {value}")
PY
