#!/usr/bin/env bash
# README set-up command 1: build scanseal and run it on the example CT slice.
#
# examples/ct-slice.dcm is synthetic (made by crates/fixtures, no real patient). The second
# digest shows the same slice re-encoded as RLE Lossless by the fixture builder: the pixel
# digest and every attribute commitment stay the same.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/prereqs.sh --build-only
cargo build --release -q -p scanseal -p scanseal-fixtures --examples --bins

echo "== scanseal digest examples/ct-slice.dcm"
target/release/scanseal digest examples/ct-slice.dcm

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
target/release/examples/write_fixture 512 512 3 rle "$tmp/ct-rle.dcm"
target/release/examples/write_fixture 512 512 3 explicit "$tmp/ct-explicit.dcm"
echo
echo "== the same 3-slice series as Explicit VR Little Endian and as RLE Lossless"
target/release/scanseal digest --json --salt-seed 000102030405060708090a0b0c0d0e0f \
    "$tmp/ct-explicit.dcm" "$tmp/ct-rle.dcm" |
    python3 -c 'import json, sys
rows = [json.loads(line) for line in sys.stdin]
for r in rows:
    print(r["transfer_syntax"].ljust(24), "pixel digest", r["pixel_digest"])
same = len({r["pixel_digest"] for r in rows}) == 1 and len({json.dumps([a["commitment"] for a in r["attributes"]]) for r in rows}) == 1
print("same pixel digest and attribute commitments:", same)
sys.exit(0 if same else 1)'

# Seal and verify with the example keys (public test keys, never for production). Git does
# not keep file modes and scanseal refuses private keys others can read, hence the chmod.
chmod 600 keys-example/*.key
echo
echo "== scanseal ledger init --origin example.scanseal.local/ledger \$tmp/ledger.db"
target/release/scanseal ledger init --origin example.scanseal.local/ledger "$tmp/ledger.db"
echo
echo "== scanseal sign --key keys-example/example-ct-01.key --ledger \$tmp/ledger.db --out \$tmp/sealed examples/ct-slice.dcm"
target/release/scanseal sign --key keys-example/example-ct-01.key --device-id CT-EXAMPLE-01 \
    --ledger "$tmp/ledger.db" --out "$tmp/sealed" examples/ct-slice.dcm
echo
echo "== scanseal ledger checkpoint --key keys-example/example-ledger-01.key \$tmp/ledger.db"
target/release/scanseal ledger checkpoint --key keys-example/example-ledger-01.key \
    --out "$tmp/checkpoint.txt" "$tmp/ledger.db"
echo
echo "== scanseal ledger prove \$tmp/ledger.db --file \$tmp/sealed/ct-slice.dcm, then verify-proof"
target/release/scanseal ledger prove "$tmp/ledger.db" --file "$tmp/sealed/ct-slice.dcm" \
    --out "$tmp/ct-slice.tlog-proof"
target/release/scanseal verify-proof --trust keys-example/trust.toml "$tmp/ct-slice.tlog-proof"
target/release/scanseal ledger verify --trust keys-example/trust.toml \
    --checkpoint "$tmp/checkpoint.txt" "$tmp/ledger.db"
echo
echo "== scanseal verify --trust keys-example/trust.toml \$tmp/sealed/ct-slice.dcm"
target/release/scanseal verify --trust keys-example/trust.toml "$tmp/sealed/ct-slice.dcm"
echo
echo "== the same file with one pixel changed (one byte just before the seal block)"
python3 - "$tmp/sealed/ct-slice.dcm" "$(stat -c %s examples/ct-slice.dcm)" <<'PY'
import sys
path, original_length = sys.argv[1], int(sys.argv[2])
data = bytearray(open(path, "rb").read())
data[original_length - 2] ^= 0x01   # low byte of the last sample: sealing appended after it
open(path, "wb").write(data)
PY
if target/release/scanseal verify --trust keys-example/trust.toml "$tmp/sealed/ct-slice.dcm"; then
    echo "expected ALTERED and exit status 1" >&2
    exit 1
fi
echo
echo "== verify --ledger: the original file (no seal) matches the ledger; with one pixel changed it does not"
target/release/scanseal verify --trust keys-example/trust.toml --ledger "$tmp/ledger.db" \
    examples/ct-slice.dcm || true
python3 - examples/ct-slice.dcm "$tmp/stripped-altered.dcm" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[-2] ^= 0x01
open(sys.argv[2], "wb").write(data)
PY
if target/release/scanseal verify --trust keys-example/trust.toml --ledger "$tmp/ledger.db" \
    "$tmp/stripped-altered.dcm"; then
    echo "expected ALTERED and exit status 1" >&2
    exit 1
fi
echo
echo "== forensic report: a block of pixels painted over in a slice sealed with 8 x 8 tiles"
target/release/scanseal sign --key keys-example/example-ct-01.key --tile-size 8 \
    --out "$tmp/forensic" examples/ct-slice.dcm
python3 - "$tmp/forensic/ct-slice.dcm" "$(stat -c %s examples/ct-slice.dcm)" <<'PY'
import sys
path, original_length = sys.argv[1], int(sys.argv[2])
rows, columns = 48, 64                      # examples/ct-slice.dcm, 16-bit samples
start = original_length - rows * columns * 2  # the pixel data ends where the seal block begins
data = bytearray(open(path, "rb").read())
for y in range(20, 27):
    for x in range(30, 41):
        offset = start + (y * columns + x) * 2
        data[offset:offset + 2] = (300).to_bytes(2, "little")  # a bright "lesion"
open(path, "wb").write(data)
PY
if target/release/scanseal verify --trust keys-example/trust.toml --explain --png "$tmp/pictures" \
    "$tmp/forensic/ct-slice.dcm"; then
    echo "expected ALTERED and exit status 1" >&2
    exit 1
fi
python3 - "$tmp/pictures/ct-slice.dcm.frame-0001.png" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
at = 8
while at < len(data):
    length, kind = struct.unpack(">I4s", data[at:at + 8])
    if kind == b"tEXt":
        keyword, _, text = data[at + 8:at + 8 + length].partition(b"\0")
        if keyword == b"Description":
            print("picture:", text.decode("latin-1"))
    at += 12 + length
PY
