#!/usr/bin/env bash
# scanseal gateway benchmark. Sends the same generated files with DCMTK storescu to DCMTK
# storescp directly, and through `scanseal gateway` (storescu -> gateway -> storescp), and
# prints one markdown table on stdout (progress goes to stderr). A benchmark, not a test: it
# prints numbers and never fails on them; it dies only when a tool is missing, a transfer did
# not deliver every file, or a file the gateway delivered does not verify INTACT.
#
#   bash bench/gateway.sh            defaults below (about 1 minute on 2 cores, plus the build)
#   bash bench/gateway.sh --quick    a smoke run on small inputs (seconds, plus the build)
#
# Knobs (environment variables; --quick changes the defaults, a variable set by hand wins):
#   CT_FILES=200          CT slices, 512 x 512 x 16-bit, Explicit VR Little Endian (~0.5 MB each)
#   SMALL_FILES=200       64 x 64 8-bit images (per-instance overhead)
#   RUNS=3                each timing is the median of RUNS runs (--quick: 1)
#   P=2                   storescu processes sending at once in the concurrent rows (1: none)
#   DCMTK_TCP_NODELAY=1   TCP_NODELAY for storescu and storescp (0: DCMTK's default, Nagle on)
#   CARGO_TARGET_DIR      where cargo builds (binaries in $CARGO_TARGET_DIR/release)
#   TMPDIR                where the work directory goes
#
# Needs: cargo, storescu and storescp (dcmtk), python3. bench/README.md says how to read it.
set -euo pipefail
export LC_ALL=C
# A backtrace capture in the gateway would be timed too.
unset RUST_BACKTRACE

usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

quick=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "gateway.sh: unknown argument '$arg'" >&2; usage >&2; exit 64 ;;
    esac
done

if [ "$quick" -eq 1 ]; then
    : "${CT_FILES:=40}" "${SMALL_FILES:=40}" "${RUNS:=1}"
else
    : "${CT_FILES:=200}" "${SMALL_FILES:=200}" "${RUNS:=3}"
fi
: "${P:=2}" "${DCMTK_TCP_NODELAY:=1}"

log() { printf '[gateway bench %4ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'gateway.sh: %s\n' "$*" >&2; exit 1; }

for knob in CT_FILES SMALL_FILES RUNS P; do
    value="${!knob}"
    [[ "$value" =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, not '$value'"
done
[[ "$DCMTK_TCP_NODELAY" =~ ^[01]$ ]] || die "DCMTK_TCP_NODELAY must be 0 or 1, not '$DCMTK_TCP_NODELAY'"
if [ "$P" -gt "$CT_FILES" ] || [ "$P" -gt "$SMALL_FILES" ]; then
    die "P ($P) must not exceed CT_FILES ($CT_FILES) or SMALL_FILES ($SMALL_FILES)"
fi
[ "${BASH_VERSINFO[0]}" -ge 5 ] || die "needs bash 5 or newer (EPOCHREALTIME)"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
BIN="$TARGET/release/scanseal"
WRITE_SERIES="$TARGET/release/examples/write_series"
TRUST="$ROOT/keys-example/trust.toml"

missing=()
for cmd in cargo storescu storescp python3 awk; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
[ "${#missing[@]}" -eq 0 ] ||
    die "missing: ${missing[*]}; run 'bash scripts/prereqs.sh' (installs dcmtk and python3)"
if [ ! -r "$TRUST" ] || [ ! -r "$ROOT/keys-example/example-ct-01.key" ]; then
    die "keys-example/ (example-ct-01.key, trust.toml) not found under $ROOT"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/scanseal-gwbench.XXXXXX")"
PIDS=()    # servers still running: stopped by stop_servers and, on any exit, by the trap
SENDERS=() # storescu processes of the transfer under way
cleanup() {
    local pid
    for pid in "${SENDERS[@]}" "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${SENDERS[@]}" "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Bytes per file as the generator writes them; the input, what storescp receives and the
# gateway's sealed copies of one run are on disk at once.
need=$((3 * (CT_FILES * 526400 + SMALL_FILES * 8600) + 50000000))
free_kb=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
[ "$((free_kb * 1024))" -ge "$need" ] ||
    die "not enough free disk in $WORK: $((free_kb / 1024)) MiB free, about $((need / 1048576)) MiB needed; set TMPDIR or lower CT_FILES"

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
ROWS="$WORK/rows.tsv"
: >"$ROWS"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_listening PORT PID NAME LOG: until something listens on PORT. Read from /proc rather
# than by connecting, as a bare connect would show up as a failed association in the logs.
wait_listening() {
    local hex pid="$2" name="$3" logfile="$4" i
    hex=$(printf '%04X' "$1")
    for ((i = 0; i < 200; i++)); do
        if awk -v p=":$hex" '$2 ~ p "$" && $4 == "0A" {found = 1} END {exit !found}' \
            /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "$name exited at start: $(tail -n 5 "$logfile" | tr '\n' ' ')"
        sleep 0.05
    done
    die "$name does not listen on port $1 after 10 s: $(tail -n 5 "$logfile" | tr '\n' ' ')"
}

# DCMTK 3.6.7 leaves Nagle's algorithm on unless TCP_NODELAY=1 is in its environment; with it
# on, every C-STORE waits for a delayed ACK (~40 ms on Linux), which would be all that the
# direct rows measure. It is given as a prefix to storescp and storescu (not through a shell
# function) so that $! is DCMTK's own pid, which the cleanup kills.

# start_pacs OUTDIR FORK: storescp writing what it receives, bit for bit (+B: no re-encoding,
# the fastest way it stores), to OUTDIR. --fork only for concurrent senders: without it
# storescp serves one association at a time and the second sender would just queue.
start_pacs() {
    local out="$1" fork=()
    [ "$2" -eq 0 ] || fork=(--fork)
    mkdir -p "$out"
    TCP_NODELAY="$DCMTK_TCP_NODELAY" storescp -aet PACS +xa +B -dhl "${fork[@]}" \
        -od "$out" "$PACS_PORT" >>"$WORK/storescp.log" 2>&1 &
    PIDS+=($!)
    wait_listening "$PACS_PORT" "$!" storescp "$WORK/storescp.log"
}

# start_gateway LEDGER SPOOL: a gateway with a fresh ledger and spool, so every instance is
# sealed and forwarded again (a known instance would only be answered from the spool).
start_gateway() {
    local db="$1" spool="$2"
    rm -f "$db" "$db-wal" "$db-shm"
    rm -rf "$spool"
    "$BIN" ledger init "$db" >/dev/null
    "$BIN" gateway --key "$KEY" --ledger "$db" --listen "127.0.0.1:$GW_PORT" \
        --ae-title SCANSEAL --forward "PACS@127.0.0.1:$PACS_PORT" --spool "$spool" \
        2>"$WORK/gateway.log" &
    PIDS+=($!)
    wait_listening "$GW_PORT" "$!" "scanseal gateway" "$WORK/gateway.log"
}

stop_servers() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}

# send PORT CALLED DIR...: one storescu per DIR, all at once, each sending its whole DIR in one
# association (+sd: no argument-length limit). Sets T to the wall-clock seconds until the
# last one finished.
send() {
    local port="$1" called="$2" start i pid rc=0
    shift 2
    rm -f "$WORK"/storescu.*.log
    start=$EPOCHREALTIME
    for ((i = 1; i <= $#; i++)); do
        TCP_NODELAY="$DCMTK_TCP_NODELAY" storescu -aet MODALITY -aec "$called" +sd \
            127.0.0.1 "$port" "${!i}" >"$WORK/storescu.$i.log" 2>&1 &
        SENDERS+=($!)
    done
    for pid in "${SENDERS[@]}"; do wait "$pid" || rc=$?; done
    SENDERS=()
    T=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.6f", b - a}')
    SEND_RC=$rc
}

count_files() { find "$1" -type f | wc -l; }

# delivered OUTDIR N WHAT: dies unless every storescu succeeded and OUTDIR holds N files.
# storescp has written a file before it answers, and the gateway answers after storescp did:
# no waiting needed. (storescu stops at the first failed C-STORE, with a non-zero status.)
delivered() {
    local got
    got=$(count_files "$1")
    [ "$got" -eq "$2" ] && [ "$SEND_RC" -eq 0 ] && return 0
    {
        echo "storescu:"; cat "$WORK"/storescu.*.log | tail -n 20
        echo "storescp:"; tail -n 20 "$WORK/storescp.log"
        if [ -s "$WORK/gateway.log" ]; then echo "gateway:"; tail -n 20 "$WORK/gateway.log"; fi
    } >&2
    die "$3: storescp received $got of $2 files (storescu exit status $SEND_RC; logs above)"
}

# verify_intact OUTDIR DB N WHAT: every file storescp received from the gateway verifies
# INTACT against the trust store and the ledger, and the ledger has one entry per instance.
verify_intact() {
    local out="$1" db="$2" n="$3" what="$4" intact entries
    "$BIN" verify --trust "$TRUST" --ledger "$db" --json "$out" >"$WORK/verify.json" \
        2>"$WORK/verify.err" || true
    intact=$(python3 -c '
import json, sys
try:
    print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["verdicts"].get("INTACT", 0))
except Exception:
    print(0)' "$WORK/verify.json")
    [ "$intact" -eq "$n" ] ||
        die "$what: only $intact of $n delivered files verify INTACT: $(tail -n 1 "$WORK/verify.json" | head -c 400) $(head -c 300 "$WORK/verify.err")"
    entries=$("$BIN" ledger info "$db" | awk '$1 == "entries" {print $2}')
    [ "$entries" = "$n" ] || die "$what: the ledger has $entries entries for $n instances"
    VERIFIED=$((VERIFIED + intact))
}

median() { printf '%s\n' "$@" | sort -g |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# row SET MODE SENDERS FILES BYTES SECONDS VERIFIED GATEWAY_MS
row() { printf 'row\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ROWS"; }
group() { printf 'group\t%s\n' "$1" >>"$ROWS"; }

# bench SET MODE SENDERS: RUNS runs of SENDERS storescu processes to storescp, directly or
# through the gateway; one row.
bench() {
    local set="$1" mode="$2" senders="$3" files bytes dirs=() times=() handled=() i out
    local db="$WORK/ledger.db" spool="$WORK/spool" what="$1, $2, $3 association(s)"
    files=$(count_files "$WORK/src/$set")
    bytes=$(find "$WORK/src/$set" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
    if [ "$senders" -eq 1 ]; then
        dirs=("$WORK/src/$set")
    else
        for ((i = 1; i <= senders; i++)); do dirs+=("$WORK/parts/$set/$i"); done
    fi
    VERIFIED=0
    for ((i = 1; i <= RUNS; i++)); do
        log "$what: run $i of $RUNS"
        out="$WORK/pacs"
        rm -rf "$out"
        : >"$WORK/storescp.log"
        : >"$WORK/gateway.log"
        start_pacs "$out" "$([ "$senders" -gt 1 ] && echo 1 || echo 0)"
        if [ "$mode" = direct ]; then
            send "$PACS_PORT" PACS "${dirs[@]}"
        else
            start_gateway "$db" "$spool"
            send "$GW_PORT" SCANSEAL "${dirs[@]}"
        fi
        times+=("$T")
        delivered "$out" "$files" "$what"
        stop_servers
        if [ "$mode" = gateway ]; then
            verify_intact "$out" "$db" "$files" "$what"
            # The gateway's own time per instance, from the data set received to the answer:
            # seal, ledger append and the C-STORE to storescp (its association included).
            mapfile -t -O "${#handled[@]}" handled < <(
                grep -oE '^scanseal gateway: STORED [0-9a-f]+ from [^ ]+ in [0-9]+ ms:' \
                    "$WORK/gateway.log" | awk '{print $(NF-1)}')
        fi
    done
    local handled_ms=""
    [ "${#handled[@]}" -eq 0 ] || handled_ms=$(median "${handled[@]}")
    row "$set" "$mode" "$senders" "$files" "$bytes" "$(median "${times[@]}")" \
        "$([ "$mode" = gateway ] && echo "$VERIFIED/$((files * RUNS))")" "$handled_ms"
    rm -rf "$WORK/pacs" "$spool" "$db" "$db-wal" "$db-shm"
}

# ----------------------------------------------------------------- build ----
log "building scanseal and write_series (release) into $TARGET"
(
    cd "$ROOT"
    cargo build --release --quiet --bin scanseal
    cargo build --release --quiet -p scanseal-fixtures --example write_series
) >&2

# ----------------------------------------------------------- generate ----
# The example key is committed with whatever mode the checkout gave it; the gateway refuses
# a key others can read, so it gets a private copy.
mkdir -p "$WORK/keys"
KEY="$WORK/keys/example-ct-01.key"
cp "$ROOT/keys-example/example-ct-01.key" "$KEY"
chmod 600 "$KEY"

log "generating $CT_FILES CT slices and $SMALL_FILES small images"
"$WRITE_SERIES" "$WORK/src/ct" "$CT_FILES" 512 512 1 explicit
"$WRITE_SERIES" "$WORK/src/small" "$SMALL_FILES" 64 64 1 explicit mono8
# The concurrent senders' shares, as hard links: file i goes to sender i mod P + 1.
for set in ct small; do
    for ((i = 1; i <= P; i++)); do mkdir -p "$WORK/parts/$set/$i"; done
    i=0
    while IFS= read -r -d '' f; do
        ln "$f" "$WORK/parts/$set/$((i % P + 1))/"
        i=$((i + 1))
    done < <(find "$WORK/src/$set" -type f -print0 | sort -z)
    # Warm: storescu reads the files, not the disk.
    find "$WORK/src/$set" -type f -exec cat {} + >/dev/null
done

PACS_PORT=$(free_port)
GW_PORT=$(free_port)
while [ "$GW_PORT" = "$PACS_PORT" ]; do GW_PORT=$(free_port); done

# ---------------------------------------------------------------- runs ----
for set in ct small; do
    case "$set" in
        ct) group "ct: $CT_FILES CT slices, 512 x 512 x 16-bit, Explicit VR Little Endian" ;;
        small) group "small: $SMALL_FILES images, 64 x 64 x 8-bit, Explicit VR Little Endian" ;;
    esac
    senders_list=(1)
    [ "$P" -eq 1 ] || senders_list+=("$P")
    for senders in "${senders_list[@]}"; do
        bench "$set" direct "$senders"
        bench "$set" gateway "$senders"
    done
done

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
    printf 'storescu\t%s\n' "$(storescu --version 2>/dev/null | head -n 1 | tr -d '$' | sed 's/^ *dcmtk: *//; s/ *$//')"
    printf 'storescp\t%s\n' "$(storescp --version 2>/dev/null | head -n 1 | tr -d '$' | sed 's/^ *dcmtk: *//; s/ *$//')"
    printf 'DCMTK TCP_NODELAY\t%s\n' "$DCMTK_TCP_NODELAY"
    printf 'rustc\t%s\n' "$(rustc --version 2>/dev/null || echo unknown)"
    printf 'commit\t%s\n' "$commit"
    printf 'work dir\t%s (%s)\n' "${TMPDIR:-/tmp}" "$(df -PT "$WORK" | awk 'NR == 2 {print $2}')"
    printf 'load average\t%s before, %s after\n' "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'knobs\tCT_FILES=%s SMALL_FILES=%s RUNS=%s P=%s DCMTK_TCP_NODELAY=%s\n' \
        "$CT_FILES" "$SMALL_FILES" "$RUNS" "$P" "$DCMTK_TCP_NODELAY"
    printf 'run time\t%s s\n' "$SECONDS"
} >"$WORK/machine.tsv"

log "done in $SECONDS s"
python3 - "$ROWS" "$WORK/machine.tsv" "$RUNS" <<'PY'
import sys

rows_path, machine_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
DASH = "–"
records = [line.rstrip("\n").split("\t") for line in open(rows_path, encoding="utf-8")]
direct = {}
for r in records:
    if r[0] == "row" and r[2] == "direct":
        direct[(r[1], r[3])] = float(r[6])


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


HEAD = ["run", "associations", "instances", "MB", "s", "instances/s", "MB/s", "ms/instance",
        "added ms/instance", "gateway ms/instance", "verified INTACT"]
out = []


def line(cells):
    out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")


line(HEAD)
line(["---"] + ["---:"] * (len(HEAD) - 1))
for r in records:
    if r[0] == "group":
        line([f"**{r[1]}**"] + [""] * (len(HEAD) - 1))
        continue
    _, s, mode, senders, files, nbytes, secs, verified, handled = r
    n, b, t = int(files), int(nbytes), float(secs)
    label = "storescu → storescp" if mode == "direct" else "storescu → scanseal gateway → storescp"
    added = None
    if mode == "gateway" and (s, senders) in direct:
        added = (t - direct[(s, senders)]) * 1000 / n
    line([
        label, senders, f"{n:,}", num(b / 1e6), f"{t:.3f}" if t < 10 else f"{t:.1f}",
        num(n / t) if t > 0 else DASH, num(b / 1e6 / t) if t > 0 else DASH, num(t * 1000 / n),
        DASH if added is None else f"{added:+.2f}" if abs(added) < 10 else f"{added:+.1f}",
        DASH if not handled else f"{float(handled):g}",
        verified or DASH,
    ])
print("\n".join(out))
print()
print(f"Notes: MB = 10^6 bytes of input files; times are wall clock from the start of the first "
      f"storescu to the end of the last, the median of {runs} run(s), page cache warm; servers are "
      "started (and the gateway given a fresh ledger and spool) before the clock starts. "
      "`associations` is the number of storescu processes sending at once, each its share of the "
      "files in one association (storescp runs with --fork for more than one, single-process "
      "otherwise). `added ms/instance` is (gateway s − direct s) / instances, against the direct "
      "row with as many associations. `gateway ms/instance` is the median of the gateway's own "
      "per-instance figure (its log's `in N ms`, whole milliseconds): from the data set received "
      "to the answer, i.e. seal, ledger append and the C-STORE to storescp (on one association "
      "per storescu association). `verified "
      "INTACT` counts files storescp received from the gateway that `scanseal verify --ledger` "
      "found INTACT, over all runs (anything less stops the bench).")
print()
print("### machine")
for raw in open(machine_path, encoding="utf-8"):
    key, _, value = raw.rstrip("\n").partition("\t")
    print(f"- {key}: {value}")
PY
