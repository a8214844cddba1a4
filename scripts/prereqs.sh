#!/usr/bin/env bash
# Install what building and testing scanseal needs. Idempotent: anything
# already present is left alone, so running it again is cheap.
#
#   bash scripts/prereqs.sh               build + interop-test prerequisites
#   bash scripts/prereqs.sh --build-only  only what `cargo build` needs
#
# Build prerequisites (apt): gcc, g++, make, cmake. The charls crate builds
# CharLS (JPEG-LS) from source with CMake and a C++ compiler; the cc crate
# needs a C compiler and the linker. Rust itself is expected from rustup (not
# installed here).
#
# Interop-test prerequisites (full mode only):
#   - apt: dcmtk (dcmconv, dcmcrle, dcmcjpls, dcmcjpeg, dcmodify, dcmsign, ...), libgdcm-tools
#     (gdcmconv), openssl, sqlite3, time (GNU time, for bench/run.sh's peak memory),
#     python3-venv when python3 cannot create a venv;
#   - rustup components rustfmt and clippy (used by .ci/run);
#   - a Python venv at .interop-cache/venv with the pinned packages of
#     tests/interop/requirements.txt (pydicom, numpy, pylibjpeg plugins,
#     pyjpegls, pytest);
#   - the pydicom 3.0.2 wheel, fetched with `pip download` into
#     .interop-cache/ and unzipped; its data/test_files directory is the
#     interop corpus.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.interop-cache"
VENV="$CACHE/venv"
REQUIREMENTS="$ROOT/tests/interop/requirements.txt"
PYDICOM_VERSION="3.0.2"
PYDICOM_WHEEL="pydicom-${PYDICOM_VERSION}-py3-none-any.whl"
# sha256 of the pydicom 3.0.2 wheel as published on PyPI.
PYDICOM_WHEEL_SHA256="abf971a5440f84dbaf42c4b6758e30e62480902584f8b270b9a5d146e278a07b"
CORPUS_ROOT="$CACHE/pydicom-${PYDICOM_VERSION}"
CORPUS_DIR="$CORPUS_ROOT/pydicom/data/test_files"

usage() {
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

build_only=0
while [ $# -gt 0 ]; do
    case "$1" in
        --build-only) build_only=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "prereqs.sh: unknown option '$1'" >&2; usage >&2; exit 64 ;;
    esac
    shift
done

log() { printf '[prereqs] %s\n' "$*" >&2; }
die() { printf '[prereqs] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- apt ------
# Packages are requested only when the command they provide is missing, so a
# machine with hand-installed tools (or no apt at all) is not touched.
apt_missing=()
want_cmd() { # want_cmd COMMAND PACKAGE
    if ! command -v "$1" >/dev/null 2>&1; then
        case " ${apt_missing[*]-} " in
            *" $2 "*) ;;
            *) apt_missing+=("$2") ;;
        esac
    fi
}

want_cmd cc gcc
want_cmd gcc gcc
want_cmd g++ g++
want_cmd make make
want_cmd cmake cmake
if [ "$build_only" -eq 0 ]; then
    for tool in dcmconv dcmdump dcmcrle dcmdrle dcmcjpls dcmdjpls dcmcjpeg dcmdjpeg dcmodify dcmsign; do
        want_cmd "$tool" dcmtk
    done
    want_cmd gdcmconv libgdcm-tools
    want_cmd gdcmdump libgdcm-tools
    want_cmd openssl openssl
    want_cmd sqlite3 sqlite3 # test_ledger.py: tampering with a ledger by hand
    # bench/run.sh: GNU time's peak RSS (`time` itself is the shell keyword).
    [ -x /usr/bin/time ] || apt_missing+=(time)
    want_cmd python3 python3
    # Debian's python3 cannot create venvs (no ensurepip) without python3-venv.
    if command -v python3 >/dev/null 2>&1 &&
        ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        apt_missing+=(python3-venv)
    fi
fi

if [ "${#apt_missing[@]}" -gt 0 ]; then
    log "missing system packages: ${apt_missing[*]}"
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not available; install these packages by hand: ${apt_missing[*]}"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 ||
            die "not root and sudo not available; as root run: apt-get install ${apt_missing[*]}"
        SUDO=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q
    # No debconf question may stall an unattended CI machine.
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${apt_missing[@]}"
else
    log "system packages: all present"
fi

# Verify rather than trust the package manager.
for cmd in cc g++ make cmake; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after apt-get install"
done

# --------------------------------------------------------------- rust ------
command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install Rust with rustup (https://rustup.rs), then re-run"

if [ "$build_only" -eq 1 ]; then
    log "build prerequisites ready"
    exit 0
fi

for tool in dcmconv dcmdump dcmcrle dcmdrle dcmcjpls dcmdjpls dcmcjpeg dcmdjpeg dcmodify dcmsign; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool still missing (apt-get install dcmtk)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time still missing (apt-get install time)"
command -v gdcmconv >/dev/null 2>&1 || die "gdcmconv still missing (apt-get install libgdcm-tools)"
command -v gdcmdump >/dev/null 2>&1 || die "gdcmdump still missing (apt-get install libgdcm-tools)"
command -v openssl >/dev/null 2>&1 || die "openssl still missing (apt-get install openssl)"
command -v sqlite3 >/dev/null 2>&1 || die "sqlite3 still missing (apt-get install sqlite3)"
command -v python3 >/dev/null 2>&1 || die "python3 not found (apt-get install python3)"

# .ci/run needs rustfmt and clippy; rustup's minimal profile lacks them.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    command -v rustup >/dev/null 2>&1 ||
        die "cargo fmt / cargo clippy missing and rustup not found to add them"
    log "adding rustup components rustfmt, clippy"
    rustup component add rustfmt clippy
fi

# -------------------------------------------------------- python venv ------
mkdir -p "$CACHE"
req_hash="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
stamp="$VENV/.requirements.sha256"
venv_ok() {
    [ -x "$VENV/bin/python" ] &&
        [ "$(cat "$stamp" 2>/dev/null)" = "$req_hash" ] &&
        "$VENV/bin/python" -c 'import pydicom, numpy, pytest, pylibjpeg, libjpeg, openjpeg, jpeg_ls, jsonschema, PIL' \
            >/dev/null 2>&1
}
if venv_ok; then
    log "python venv: up to date ($VENV)"
else
    log "creating python venv $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
        --only-binary=:all: -r "$REQUIREMENTS" ||
        die "pip install -r tests/interop/requirements.txt failed (is the package index reachable?)"
    echo "$req_hash" >"$stamp"
    venv_ok || die "python venv incomplete after pip install"
fi

# ------------------------------------------------------ pydicom corpus ------
wheel="$CACHE/$PYDICOM_WHEEL"
wheel_ok() { [ -f "$wheel" ] && [ "$(sha256sum "$wheel" | cut -d' ' -f1)" = "$PYDICOM_WHEEL_SHA256" ]; }
if [ -f "$CORPUS_ROOT/.complete" ] && [ -d "$CORPUS_DIR" ]; then
    log "pydicom corpus: present ($CORPUS_DIR)"
else
    if ! wheel_ok; then
        rm -f "$wheel"
        log "downloading $PYDICOM_WHEEL"
        "$VENV/bin/python" -m pip download --disable-pip-version-check -q --no-deps \
            --only-binary=:all: "pydicom==$PYDICOM_VERSION" -d "$CACHE" ||
            die "pip download pydicom==$PYDICOM_VERSION failed (is the package index reachable?)"
        wheel_ok || die "$wheel: missing or sha256 mismatch (expected $PYDICOM_WHEEL_SHA256)"
    fi
    log "unzipping $PYDICOM_WHEEL"
    rm -rf "$CORPUS_ROOT" "$CORPUS_ROOT.tmp"
    "$VENV/bin/python" -m zipfile -e "$wheel" "$CORPUS_ROOT.tmp"
    [ -f "$CORPUS_ROOT.tmp/pydicom/data/test_files/MR_small.dcm" ] ||
        die "$PYDICOM_WHEEL has no pydicom/data/test_files/MR_small.dcm"
    mv "$CORPUS_ROOT.tmp" "$CORPUS_ROOT"
    touch "$CORPUS_ROOT/.complete"
fi

log "all prerequisites ready"
