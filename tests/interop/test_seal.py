"""Sealing and verifying real files, checked with other software (spec/seal-format.md).

1. Round trip: every corpus file `scanseal digest` canonicalizes, plus multi-frame and
   deflated files written by DCMTK/GDCM and a file with a foreign (7FF1) block and trailing
   padding, is sealed (embedded with `sign --out`, and with `sign --sidecar`) and `verify`
   says INTACT.
2. Third parties read sealed files as they read the originals: dcmdump, gdcmdump and
   pydicom (validation mode RAISE) report nothing new; the SCANSEAL block reads as
   `SCANSEAL 1` + OB; the sealed file minus the two inserted elements is the original byte
   for byte (the inflated data set for Deflated, B3), and pydicom reads every other element
   and the pixels unchanged.
3. Transcodes: the sealed file transcoded by every tool of transcoders.py (and a pydicom
   load-and-save) verifies INTACT, or MODIFIED naming exactly the attributes the tool is
   declared to change; the same with the seal in a sidecar next to the transcoded original.
   Which tools keep the private block is reported.
4. Independent COSE/CBOR: pycose verifies every envelope with the key from the .pub file
   (and rejects a flipped payload byte); cbor2 decodes chain and manifest strictly; the
   manifest has the §3 fields, M2 and R3 hold (recomputed with spec/reference/canon_v1.py),
   and it commits to exactly what `scanseal digest` computes for the original. The committed
   vector verifies under the RFC 8032 TEST 1 key.
5. DCMTK dcmodify edits: PatientName changed / ImageComments added -> ALTERED,
   DerivationDescription added -> MODIFIED (exit 0, --strict exit 1).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cbor2
import pydicom
import pytest
from pydicom import config as pydicom_config

import dicom_ref as ref
import ireport
import scanseal_cli as cli
import seal_cli as sc
from ienv import REPO_ROOT, corpus_dir, corpus_file, require_tool
from transcoders import (DEFLATED_LE, EXPLICIT_LE, IMPLICIT_LE, MULTIFRAME_SOURCE, SOURCES,
                         Producer, Transcode, cases)

BATCH = 25
TEST1_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"  # RFC 8032 §7.1
VECTOR = REPO_ROOT / "spec" / "vectors" / "seal" / "ct-explicit-le"
PROTECTED_PREFIX = bytes.fromhex("a201270450")  # {1: -8, 4: h'<16 bytes>'} (E1)
MANIFEST_KEYS = {"format", "action", "created", "signer", "canon", "key_attributes", "pixels",
                 "attributes", "predecessor"}
DESCRIPTOR_KEYS = {"rows", "columns", "samples_per_pixel", "bits_allocated", "bits_stored",
                   "high_bit", "pixel_representation", "photometric_interpretation",
                   "number_of_frames", "sample_format"}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# Multi-frame and deflated inputs written by the tools themselves (transcoders.py).
EXTRA_TRANSCODES = (
    (MULTIFRAME_SOURCE, None),
    (MULTIFRAME_SOURCE, "dcmtk-implicit"),
    (MULTIFRAME_SOURCE, "dcmtk-bigendian"),
    (MULTIFRAME_SOURCE, "dcmtk-deflated"),
    (MULTIFRAME_SOURCE, "gdcm-deflated"),
    (MULTIFRAME_SOURCE, "dcmtk-rle"),
    (MULTIFRAME_SOURCE, "dcmtk-jpegls"),
    (MULTIFRAME_SOURCE, "gdcm-j2k"),
    (MULTIFRAME_SOURCE, "dcmtk-jpeg-sv1"),
    ("CT_small.dcm", "dcmtk-deflated"),
    ("CT_small.dcm", "gdcm-deflated"),
)
FOREIGN_BLOCK = "CT_small_foreign7ff1_padding.dcm"

# Spec B10 (seal-format.md §6.1): a deflated data set may be followed by one 00 byte, or by
# the 8-byte gzip member trailer (CRC-32 and ISIZE of the inflated data set) that GDCM
# appends (gdcmconv --deflated, and pydicom's image_dfl.dcm, made by GDCM) when both match
# what was inflated; anything else makes the file unsealable and unreadable for sign and
# verify. The trailers are classified here independently (zlib): matching gzip trailers must
# seal and verify like any file, anything else must be refused by `sign` and be ERROR in
# `verify`.
B10_MESSAGE = "after the deflate stream"


# ------------------------------------------------------------- fixtures --

@pytest.fixture(scope="module")
def signer(tmp_path_factory) -> sc.Signer:
    return sc.make_signer(tmp_path_factory.mktemp("keys"))


def _digest_records(paths: list[Path]) -> list[dict | None]:
    """Contract-checked `scanseal digest --json` records; None for a crash or violation."""
    try:
        run = cli.run_digest(paths, salt_seed=None, timeout=300)
        if cli.is_crash(run):
            raise cli.ContractViolation(run.describe_exit())
        return cli.check_run(run, paths, salt_seed=None)
    except cli.ContractViolation:
        if len(paths) == 1:
            return [None]
        return [r for p in paths for r in _digest_records([p])]  # isolate the culprit


def _digest_accepted(paths: list[Path]) -> dict[Path, dict]:
    """`scanseal digest --json` records of the files it canonicalizes, in batches (a file
    that crashes it is left out here; test_corpus.py reports it)."""
    out: dict[Path, dict] = {}
    for i in range(0, len(paths), BATCH):
        batch = paths[i:i + BATCH]
        for p, rec in zip(batch, _digest_records(batch)):
            if rec is not None and "error" not in rec:
                out[p] = rec
    return out


def _build_foreign_block(dst: Path) -> Path:
    """CT_small with another vendor's private block at (7FF1,0010) and Data Set Trailing
    Padding: the seal must take block 11 (B2) and go before (FFFC,FFFC) (B1)."""
    ds = ref.read(corpus_file("CT_small.dcm"))
    ds.add_new(0x7FF10010, "LO", "OTHER VENDOR 2")
    ds.add_new(0x7FF11005, "LO", "kept as is")
    ds.add_new(0xFFFCFFFC, "OB", b"\x00" * 8)
    ds.save_as(str(dst))
    return dst


@dataclass
class Item:
    name: str  # corpus-relative name, or extra/<name>
    original: Path  # the unsealed file (staging copy)
    digest: dict  # scanseal digest --json of the original (no salts)
    embedded: Path | None = None  # sealed copy (sign --out)
    sidecar_file: Path | None = None  # copy of the original with FILE.seal next to it
    embed_error: str | None = None
    sidecar_error: str | None = None
    rec_embedded: dict | None = None
    rec_sidecar: dict | None = None
    b10: str | None = None  # B10 violation: sign must refuse, verify must say ERROR


@dataclass
class RoundTrip:
    root: Path
    items: list[Item] = field(default_factory=list)
    n_corpus: int = 0

    def sealed(self) -> list[Item]:
        return [i for i in self.items if i.embedded is not None]


@pytest.fixture(scope="module")
def round_trip(signer, producer, tmp_path_factory) -> RoundTrip:
    root = tmp_path_factory.mktemp("seal-roundtrip")
    corpus = corpus_dir()
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    accepted = _digest_accepted(files)

    src = root / "src"
    staged: dict[Path, tuple[str, Path]] = {}
    for p in sorted(accepted):
        rel = p.relative_to(corpus).as_posix()
        dst = src / "corpus" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dst)
        staged[dst] = (rel, p)
    extra_dir = src / "extra"
    extra_dir.mkdir(parents=True)
    extras = []
    for source, t in EXTRA_TRANSCODES:
        made = producer.sources[source] if t is None else producer.get(source, t)
        dst = extra_dir / (made.name if t else source)
        shutil.copyfile(made, dst)
        extras.append(dst)
    extras.append(_build_foreign_block(extra_dir / FOREIGN_BLOCK))
    extra_recs = _digest_accepted(extras)
    not_canon = [e.name for e in extras if e not in extra_recs]
    assert not not_canon, f"scanseal digest rejects the synthetic inputs {not_canon}"

    rt = RoundTrip(root, n_corpus=len(staged))
    for dst, (rel, p) in staged.items():
        rt.items.append(Item(rel, dst, accepted[p], b10=b10_violation(dst)))
    for e in extras:
        rt.items.append(Item(f"extra/{e.name}", e, extra_recs[e], b10=b10_violation(e)))

    # Embedded: one `sign --out` over the staging tree (directories recurse and mirror).
    emb = root / "embedded"
    res = sc.sign(signer, [src], out=emb)
    sealed = {Path(k).resolve(): Path(v) for k, v in res.sealed.items()}
    errors = {Path(k).resolve(): v for k, v in res.errors.items()}
    for it in rt.items:
        key = it.original.resolve()
        if key in sealed:
            want = emb / it.original.relative_to(src)
            assert sealed[key].resolve() == want.resolve(), (
                f"sign --out must mirror the directory: {it.original} -> {sealed[key]}, expected {want}")
            it.embedded = want
        else:
            it.embed_error = errors.get(key, "no SEALED or ERROR line for this file")

    # Sidecar: a copy of the tree, `sign --sidecar` writes FILE.seal next to each file.
    side = root / "sidecar"
    shutil.copytree(src, side)
    res = sc.sign(signer, [side], sidecar=True)
    sealed = {Path(k).resolve(): Path(v) for k, v in res.sealed.items()}
    errors = {Path(k).resolve(): v for k, v in res.errors.items()}
    for it in rt.items:
        f = side / it.original.relative_to(src)
        if f.resolve() in sealed:
            want = f.with_name(f.name + ".seal")
            assert sealed[f.resolve()].resolve() == want.resolve(), (
                f"sign --sidecar wrote {sealed[f.resolve()]}, expected {want}")
            assert f.read_bytes() == it.original.read_bytes(), f"sign --sidecar modified {f} (§6.2)"
            it.sidecar_file = f
        else:
            it.sidecar_error = errors.get(f.resolve(), "no SEALED or ERROR line for this file")

    emb_items = [i for i in rt.items if i.embedded]
    for it, rec in zip(emb_items, sc.verify(signer, [i.embedded for i in emb_items])):
        it.rec_embedded = rec
    sc_items = [i for i in rt.items if i.sidecar_file]
    for it, rec in zip(sc_items, sc.verify(signer, [i.sidecar_file for i in sc_items])):
        it.rec_sidecar = rec
    _summarize_round_trip(rt)
    return rt


def _summarize_round_trip(rt: RoundTrip) -> None:
    modes = Counter(i.digest["pixel_mode"] for i in rt.items)
    tss = Counter(i.digest["transfer_syntax"] for i in rt.items)
    v_emb = Counter(i.rec_embedded["verdict"] for i in rt.items if i.rec_embedded)
    v_sc = Counter(i.rec_sidecar["verdict"] for i in rt.items if i.rec_sidecar)
    lines = [
        f"  inputs: {len(rt.items)} ({rt.n_corpus} corpus files scanseal digest accepts, "
        f"{len(rt.items) - rt.n_corpus} made by DCMTK/GDCM/pydicom)",
        "    pixel modes: " + ", ".join(f"{m} {n}" for m, n in sorted(modes.items())),
        "    transfer syntaxes: " + ", ".join(f"{t} {n}" for t, n in sorted(tss.items())),
        f"  embedded (sign --out): sealed {sum(1 for i in rt.items if i.embedded)}, "
        f"not sealed {sum(1 for i in rt.items if i.embed_error)}; verify: "
        + (", ".join(f"{v} {n}" for v, n in sorted(v_emb.items())) or "-"),
        f"  sidecar (sign --sidecar): sealed {sum(1 for i in rt.items if i.sidecar_file)}, "
        f"not sealed {sum(1 for i in rt.items if i.sidecar_error)}; verify: "
        + (", ".join(f"{v} {n}" for v, n in sorted(v_sc.items())) or "-"),
    ]
    for i in rt.items:
        if i.b10:
            lines.append(f"  B10 (must be refused) {i.name}: {i.b10}")
    for i in rt.items:
        if i.embed_error:
            lines.append(f"  NOT SEALED (embedded) {i.name}: {i.embed_error}")
        if i.sidecar_error:
            lines.append(f"  NOT SEALED (sidecar)  {i.name}: {i.sidecar_error}")
    ireport.add("Seal: round trip (sign, verify) over the corpus", *lines)


# -------------------------------------------------------- 1. round trip --

def _round_trip_failures(rt: RoundTrip, signer: sc.Signer, mode: str) -> list[str]:
    bad = []
    for it in rt.items:
        err = it.embed_error if mode == "embedded" else it.sidecar_error
        rec = it.rec_embedded if mode == "embedded" else it.rec_sidecar
        if it.b10:
            if err is None or B10_MESSAGE not in err:
                bad.append(f"{it.name}: {it.b10}, so B10 requires `sign{' --sidecar' if mode == 'sidecar' else ''}` "
                           f"to refuse it, but it " + (f"failed with {err!r}" if err else
                           f"sealed it, and verify says:\n{sc.show(rec)}"))
            continue
        if err is not None:
            bad.append(f"{it.name} ({it.digest['transfer_syntax']}, {it.digest['pixel_mode']}): "
                       f"sign failed: {err}")
            continue
        problems = []
        if rec["verdict"] != "INTACT":
            problems.append(f"verdict {rec['verdict']}")
        if rec["findings"]:
            problems.append("findings")
        if rec["seal_source"] != mode:
            problems.append(f"seal_source {rec['seal_source']!r}")
        if (rec["signer"] or {}).get("key_id") != signer.key_id:
            problems.append(f"signer {rec['signer']}")
        if len(rec["chain"]) != 1 or rec["chain"][0].get("action") != "acquired":
            problems.append(f"chain {rec['chain']}")
        if rec["attributes_checked"] != len(it.digest["attributes"]):
            problems.append(f"attributes_checked {rec['attributes_checked']} but scanseal digest "
                            f"lists {len(it.digest['attributes'])} attributes")
        if problems:
            bad.append(f"{it.name}: {'; '.join(problems)}\n{sc.show(rec)}")
    return bad


def test_round_trip_embedded(round_trip, signer):
    assert round_trip.n_corpus > 100, f"only {round_trip.n_corpus} corpus files canonicalized"
    gzip = [i.name for i in round_trip.items if has_gzip_trailer(i.original)]
    assert "image_dfl.dcm" in gzip and "extra/CT_small.gdcm-deflated.dcm" in gzip, (
        f"expected GDCM's gzip trailer in image_dfl.dcm and gdcmconv --deflated output; found in: {gzip}")
    bad = _round_trip_failures(round_trip, signer, "embedded")
    assert not bad, (f"{len(bad)} of {len(round_trip.items)} files do not seal and verify INTACT "
                     "(embedded):\n" + "\n".join(bad))


def test_round_trip_sidecar(round_trip, signer):
    bad = _round_trip_failures(round_trip, signer, "sidecar")
    assert not bad, (f"{len(bad)} of {len(round_trip.items)} files do not seal and verify INTACT "
                     "(sidecar):\n" + "\n".join(bad))


def test_sidecar_refused_for_embedded_sealed_file(signer, tmp_path):
    """§6.3: sealing a file that already has a seal is refused unless --append; a sidecar
    written for an embedded-sealed file would never be read (§6.2: with an embedded block the
    sidecar is not consulted), so it must be refused too."""
    other = sc.make_signer(tmp_path / "other", "other", store=signer.store)
    res = sc.sign(signer, [corpus_file("CT_small.dcm")], out=tmp_path)
    sealed = tmp_path / "CT_small.dcm"
    assert not res.errors, res.errors
    again = sc.sign(other, [sealed], out=tmp_path / "again")
    assert sealed.name in " ".join(again.errors) and not again.sealed, (
        f"sign --out of an embedded-sealed file must be refused without --append:\n{again.proc.describe()}")
    side = sc.sign(other, [sealed], sidecar=True)
    (rec,) = sc.verify(signer, [sealed])
    assert not side.sealed and not sealed.with_name(sealed.name + ".seal").exists(), (
        f"sign --sidecar sealed {sealed.name}, which already has an embedded seal: the new seal "
        f"(key {other.key_id}) is silently ignored, verify reports the embedded one "
        f"(signer {rec['signer']}, seal_source {rec['seal_source']}):\n{side.proc.describe()}")


def test_foreign_private_block_and_padding(round_trip):
    """B1/B2: the seal takes the lowest free block (11) and is inserted before (FFFC,FFFC)."""
    (it,) = [i for i in round_trip.items if i.name == f"extra/{FOREIGN_BLOCK}"]
    assert it.embedded is not None, f"not sealed: {it.embed_error}"
    ds = ref.read(it.embedded)
    assert sc.seal_blocks(ds) == [0x11], f"SCANSEAL blocks {sc.seal_blocks(ds)}, expected [0x11]"
    assert ds[0x7FF10010].value == "OTHER VENDOR 2" and ds[0x7FF11005].value == "kept as is"
    tail = [int(t) for t in ds.keys() if t >= 0x7FF10000]
    want = [0x7FF10010, 0x7FF10011, 0x7FF11005, 0x7FF11101, 0xFFFCFFFC]
    assert tail == want, (f"elements from group 7FF1 on: {[f'{t:08X}' for t in tail]}, "
                          f"expected {[f'{t:08X}' for t in want]}")


# ------------------------------------------------ 2. third-party readers --

def _meta_end(b: bytes) -> int:
    """Offset of the first data-set byte: after preamble/DICM and the group 0002 elements."""
    i = 132 if b[128:132] == b"DICM" else 4
    while i + 8 <= len(b):
        group, _elem = struct.unpack_from("<HH", b, i)
        if group != 0x0002:
            return i
        vr = b[i + 4:i + 6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV", b"SV", b"UV"):
            i += 12 + struct.unpack_from("<I", b, i + 8)[0]
        else:
            i += 8 + struct.unpack_from("<H", b, i + 6)[0]
    return i


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    return d.decompress(data) + d.flush()


def deflate_trailer(path: Path) -> bytes | None:
    """Bytes after the raw deflate stream of a Deflated file (None: not deflated)."""
    if ref.transfer_syntax(path) != DEFLATED_LE:
        return None
    b = path.read_bytes()
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    d.decompress(b[_meta_end(b):])
    assert d.eof, f"{path}: deflate stream does not end"
    return d.unused_data


def b10_violation(path: Path) -> str | None:
    """Why B10 makes the file unsealable, or None."""
    t = deflate_trailer(path)
    if t is None or t in (b"", b"\x00") or has_gzip_trailer(path):
        return None
    return f"{len(t)} bytes after the deflate stream (not a matching gzip trailer)"


def has_gzip_trailer(path: Path) -> bool:
    """Whether the deflate stream is followed by a matching gzip trailer (optionally padded)."""
    t = deflate_trailer(path)
    if t is None:
        return False
    b = path.read_bytes()
    inflated = _inflate(b[_meta_end(b):])
    gz = struct.pack("<II", zlib.crc32(inflated), len(inflated) & 0xFFFFFFFF)
    return t in (gz, gz + b"\x00")


def _data_set(path: Path) -> tuple[bytes, bytes, int]:
    """(bytes before the data set, data-set bytes (inflated for Deflated), file offset of the
    data set's first byte in pydicom's value_tell terms)."""
    b = path.read_bytes()
    start = _meta_end(b)
    if ref.transfer_syntax(path) == DEFLATED_LE:
        return b[:start], _inflate(b[start:]), 0
    return b[:start], b[start:], start


def _inserted_spans(sealed: Path) -> list[tuple[int, int, int]]:
    """(start, end, tag) in data-set offsets of the top-level SCANSEAL elements, from pydicom's
    value positions (raw elements: header 8 bytes, or 12 for explicit-VR OB)."""
    ds = pydicom.dcmread(str(sealed), force=False)
    implicit = ref.transfer_syntax(sealed) == IMPLICIT_LE
    _, _, base = _data_set(sealed)
    spans = []
    for bb in sc.seal_blocks(ref.read(sealed)):
        for tag in ((sc.SEAL_GROUP << 16) | bb, (sc.SEAL_GROUP << 16) | (bb << 8) | 1):
            raw = ds.get_item(tag)
            hdr = 8 if implicit or tag & 0xFFFF == bb else 12
            start = raw.value_tell - base - hdr
            spans.append((start, raw.value_tell - base + raw.length, tag))
    return sorted(spans)


def _without(body: bytes, spans) -> bytes:
    out, pos = [], 0
    for s, e, _ in spans:
        out.append(body[pos:s])
        pos = e
    out.append(body[pos:])
    return b"".join(out)


def _byte_check(it: Item) -> str | None:
    return _byte_diff(it.original, it.embedded)


def _byte_diff(original: Path, sealed: Path) -> str | None:
    pre_o, body_o, _ = _data_set(original)
    pre_s, body_s, _ = _data_set(sealed)
    if pre_o != pre_s:
        return "File Meta Information (and preamble) changed (B3)"
    spans = _inserted_spans(sealed)
    if len(spans) != 2:
        return f"expected 2 inserted elements, found {spans}"
    if _without(body_s, spans) != body_o:
        return (f"data set minus the inserted elements {[(s, e, f'{t:08X}') for s, e, t in spans]} "
                f"differs from the original ({len(body_s)} vs {len(body_o)} bytes)")
    return None


def _elements_check(it: Item) -> str | None:
    o, s = ref.read(it.original), ref.read(it.embedded)
    if o.file_meta != s.file_meta:
        return "pydicom reads different File Meta Information"
    blocks = sc.seal_blocks(s)
    seal_tags = {(sc.SEAL_GROUP << 16) | bb for bb in blocks} | {
        (sc.SEAL_GROUP << 16) | (bb << 8) | 1 for bb in blocks}
    extra = set(s.keys()) - set(o.keys())
    if extra != seal_tags or set(o.keys()) - set(s.keys()):
        return (f"element sets differ: added {[f'{t:08X}' for t in sorted(extra)]}, removed "
                f"{[f'{t:08X}' for t in sorted(set(o.keys()) - set(s.keys()))]}")
    for tag in o.keys():
        try:
            eo = repr(o[tag].value) if o[tag].VR == "SQ" else o[tag]
            es = repr(s[tag].value) if s[tag].VR == "SQ" else s[tag]
            same = eo == es
        except Exception as e:  # pydicom could not convert one of them: both must fail alike
            same = _conversion_error(o, tag) == _conversion_error(s, tag)
            if not same:
                return f"{tag}: pydicom conversion differs ({type(e).__name__}: {e})"
        if not same:
            return f"{tag} {o[tag].keyword or ''} differs: {o[tag]!r:.120} vs {s[tag]!r:.120}"
    return None


def _conversion_error(ds, tag) -> str | None:
    try:
        ds[tag].value
        return None
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def _pixel_check(it: Item) -> str:
    """'equal', 'no pixels', 'both undecodable', or a failure message (prefix FAIL)."""
    if it.digest["pixel_mode"] == "none":
        return "no pixels"
    out = []
    for p in (it.original, it.embedded):
        try:
            out.append(ref.pixels(p))
        except Exception as e:
            out.append(f"{type(e).__name__}: {e}"[:200])
    a, b = out
    if isinstance(a, str) or isinstance(b, str):
        if isinstance(a, str) and isinstance(b, str):
            return "both undecodable"
        return f"FAIL pydicom decodes only one of original/sealed: {a if isinstance(a, str) else b}"
    return "equal" if ref.same_pixels(a, b) else "FAIL decoded pixels differ"


def test_sealing_changes_nothing_else(round_trip):
    """B3 with pydicom as the reader: bytes, every element, decoded pixels."""
    rows, bad = Counter(), []
    for it in round_trip.sealed():
        ts = it.digest["transfer_syntax"]
        for what, check in (("bytes", _byte_check), ("elements", _elements_check)):
            msg = check(it)
            if msg:
                bad.append(f"{it.name} ({ts}) {what}: {msg}")
        px = _pixel_check(it)
        if px.startswith("FAIL"):
            bad.append(f"{it.name} ({ts}) pixels: {px}")
        rows[px] += 1
    n = len(round_trip.sealed())
    ireport.add("Seal: sealed files vs originals (pydicom reader, bytes)",
                f"  {n} sealed files: byte check and element-by-element check; pixels: "
                + ", ".join(f"{k} {v}" for k, v in sorted(rows.items())),
                f"  failures: {len(bad)}")
    assert n > 100
    assert not bad, "\n".join(bad)


def _tool_report(argv: list[str], path: Path) -> tuple[int, list[str]]:
    p = subprocess.run([*argv, str(path)], capture_output=True, timeout=120)
    err = p.stderr.decode("utf-8", "replace").replace(str(path), "<file>")
    return p.returncode, sorted(line for line in err.splitlines() if line.strip())


def _dcmdump_complaints(path: Path) -> tuple[int, list[str]]:
    rc, lines = _tool_report(["dcmdump", "-E"], path)
    return rc, [line for line in lines if re.match(r"^[EWF]: ", line)]


def test_third_party_tools_read_sealed_files(round_trip):
    """dcmdump -E and gdcmdump: same exit status and messages as for the original, and
    both show the SCANSEAL block."""
    require_tool("dcmdump")
    require_tool("gdcmdump")
    items = round_trip.sealed()

    def one(it: Item) -> list[str]:
        bad = []
        for tool, fn in (("dcmdump -E", _dcmdump_complaints),
                         ("gdcmdump", lambda p: _tool_report(["gdcmdump"], p))):
            o, s = fn(it.original), fn(it.embedded)
            if o != s:
                bad.append(f"{it.name}: {tool} on the original: exit {o[0]}, {o[1][:5]}; "
                           f"sealed: exit {s[0]}, {s[1][:5]}")
        dump = subprocess.run(["dcmdump", str(it.embedded)], capture_output=True,
                              timeout=60).stdout.decode("utf-8", "replace")
        if not re.search(r"\(7ff1,00[1-9a-f][0-9a-f]\) (LO|\?\?) \[SCANSEAL 1\]", dump):
            bad.append(f"{it.name}: dcmdump does not show the SCANSEAL 1 creator:\n{dump[:500]}")
        return bad

    with ThreadPoolExecutor(max_workers=8) as ex:
        bad = [b for r in ex.map(one, items) for b in r]
    ireport.add("Seal: third-party readers of sealed files",
                f"  dcmdump -E / gdcmdump on {len(items)} sealed files and their originals: "
                f"{len(bad)} differences")
    assert not bad, "\n".join(bad)


def _pydicom_outcome(path: Path) -> str:
    return _pydicom_outcome_raw(path).replace(str(path), "<file>")


def _pydicom_outcome_raw(path: Path) -> str:
    import warnings

    old = pydicom_config.settings.reading_validation_mode
    pydicom_config.settings.reading_validation_mode = pydicom_config.RAISE
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(str(path))
            for elem in ds.iterall():
                elem.value  # noqa: B018 (convert every raw element)
        return "ok" + "".join(sorted(f"; warning {x.message}" for x in w))
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    finally:
        pydicom_config.settings.reading_validation_mode = old


def test_pydicom_reads_sealed_files_strictly(round_trip):
    """pydicom with reading_validation_mode RAISE: sealed files raise/warn exactly when the
    original does, and the block reads as LO `SCANSEAL 1` + OB (UN in Implicit VR)."""
    bad, clean = [], 0
    for it in round_trip.sealed():
        o, s = _pydicom_outcome(it.original), _pydicom_outcome(it.embedded)
        if o != s:
            bad.append(f"{it.name}: original: {o[:300]}\n    sealed: {s[:300]}")
        clean += s == "ok"
        ds = ref.read(it.embedded)
        want_bb = 0x11 if it.name.endswith(FOREIGN_BLOCK) else 0x10
        creator, data = (0x7FF10000 | want_bb), (0x7FF10001 | want_bb << 8)
        if creator not in ds or data not in ds:
            bad.append(f"{it.name}: no ({creator:08X}) / ({data:08X}) in the sealed file")
            continue
        if ds[creator].value != sc.SCANSEAL_CREATOR:
            bad.append(f"{it.name}: ({creator:08X}) reads {ds[creator].value!r}")
        want_vr = ("UN",) if ref.transfer_syntax(it.embedded) == IMPLICIT_LE else ("OB",)
        if ds[data].VR not in want_vr:
            bad.append(f"{it.name}: ({data:08X}) VR {ds[data].VR}, expected {want_vr}")
    ireport.add("Seal: third-party readers of sealed files",
                f"  pydicom RAISE mode: {clean} sealed files read without warning or error, "
                f"{len(round_trip.sealed()) - clean} with the same complaint as their original; "
                f"{len(bad)} differences")
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------- 3. transcodes --

# pydicom as a "tool": load and save (same transfer syntax), and re-encode as Implicit VR LE.
PYDICOM_TRANSCODES = (
    Transcode("pydicom-resave", ("pydicom",), EXPLICIT_LE),
    Transcode("pydicom-implicit", ("pydicom",), IMPLICIT_LE),
)
TRANSCODE_CASES = cases() + [(s, t) for s in SOURCES for t in PYDICOM_TRANSCODES]
KEEPS: dict[str, set[str]] = {}  # tool -> {"kept", "dropped"}
TC_RESULTS: dict[tuple[str, str], dict[str, str]] = {}  # (transcode, source) -> cells


class PydicomProducer(Producer):
    """Producer that also knows PYDICOM_TRANSCODES; tool transcodes can be delegated to
    another (memoizing) producer of the same sources."""

    tools: Producer | None = None

    def _produce(self, source: str, t: Transcode) -> Path:
        if t.tool != "pydicom":
            return super()._produce(source, t)
        import pydicom.uid

        dst = self.outdir / f"{Path(source).stem}.{t.name}.dcm"
        ds = ref.read(self.sources[source])
        if t.ts == IMPLICIT_LE:
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(str(dst), enforce_file_format=True)
        return dst

    def get(self, source: str, name: str) -> Path:
        t = {x.name: x for x in PYDICOM_TRANSCODES}.get(name)
        if t is None:
            return (self.tools or super()).get(source, name)
        key = (source, name)
        if key not in self._done:
            self._done[key] = self._produce(source, t)
        return self._done[key]


@pytest.fixture(scope="module")
def sealed_sources(signer, producer, tmp_path_factory):
    """The transcode sources sealed embedded, and their sidecars (sign --sidecar --out)."""
    work = tmp_path_factory.mktemp("seal-transcodes")
    for d in ("out", "plain-out"):
        (work / d).mkdir()
    srcs = [producer.sources[s] for s in SOURCES]
    res = sc.sign(signer, srcs, out=work / "sealed")
    assert not res.errors, f"sign failed: {res.errors}"
    res_sc = sc.sign(signer, srcs, sidecar=True, out=work / "sidecars")
    assert not res_sc.errors, f"sign --sidecar failed: {res_sc.errors}"
    sealed = {s: work / "sealed" / producer.sources[s].name for s in SOURCES}
    sidecars = {s: work / "sidecars" / (producer.sources[s].name + ".seal") for s in SOURCES}
    for p in [*sealed.values(), *sidecars.values()]:
        assert p.is_file(), f"sign did not write {p}"
    plain = PydicomProducer(work / "plain-out", dict(producer.sources))
    plain.tools = producer  # the session's transcodes of the originals (test_transcodes.py)
    return {
        "sealed_producer": PydicomProducer(work / "out", sealed),
        "plain_producer": plain,
        "sealed": sealed,
        "sidecars": sidecars,
        "work": work,
    }


def _expect_verdict(rec: dict, t: Transcode, mode: str) -> list[str]:
    allowed = set(t.allowed_changes)
    problems = []
    want = "MODIFIED" if allowed else "INTACT"
    if rec["verdict"] != want:
        problems.append(f"verdict {rec['verdict']}, expected {want}")
    if rec["seal_source"] != mode:
        problems.append(f"seal_source {rec['seal_source']!r}, expected {mode!r}")
    if pixel_findings(rec):
        problems.append(f"pixel findings {pixel_findings(rec)}")
    got = sc.attribute_finding_ids(rec)
    if got != allowed:
        problems.append(f"attribute findings {sorted(got) or 'none'}, allowed for {t.name}: "
                        f"{sorted(allowed) or 'none'}" + (f" ({t.why})" if t.why else ""))
    return problems


def pixel_findings(rec: dict) -> list[dict]:
    return sc.pixel_findings(rec)


def _tc_row(source, t, **cells):
    TC_RESULTS.setdefault((t.name, source), {}).update(cells)


def _b10_expectation(out: Path, rec: dict) -> str | None:
    """For a tool output B10 makes unreadable: None if verify says ERROR for that reason."""
    if rec["verdict"] == "ERROR" and B10_MESSAGE in rec["reason"]:
        return None
    return f"expected ERROR ({B10_MESSAGE}), got:\n{sc.show(rec)}"


@pytest.mark.parametrize("source,t", TRANSCODE_CASES, ids=[f"{s}-{t.name}" for s, t in TRANSCODE_CASES])
def test_transcoded_sealed_file_verifies(sealed_sources, signer, source, t):
    """Embedded seal: transcode the sealed file; the block survives (or the tool is recorded
    as dropping it) and verify gives INTACT / MODIFIED with exactly the declared changes."""
    prod = sealed_sources["sealed_producer"]
    out = prod.get(source, t.name)
    chain_in = sc.embedded_chain_bytes(sealed_sources["sealed"][source])
    chain_out = sc.embedded_chain_bytes(out)
    (rec,) = sc.verify(signer, [out])
    if chain_out is None:
        KEEPS.setdefault(t.tool, set()).add("dropped")
        _tc_row(source, t, block="dropped", embedded=rec["verdict"])
        assert rec["verdict"] == "UNSIGNED", (
            f"{t.name} dropped the SCANSEAL block; verify must say UNSIGNED:\n{sc.show(rec)}")
        return
    KEEPS.setdefault(t.tool, set()).add("kept")
    b10 = b10_violation(out)
    _tc_row(source, t, block="kept", embedded=rec["verdict"] + (" (B10)" if b10 else ""))
    if b10:
        problem = _b10_expectation(out, rec)
        assert problem is None, f"sealed {source} -> {t.name}: {b10}: {problem}"
        return
    assert chain_out == chain_in, (
        f"{t.name} ({' '.join(t.argv)}) kept the block but changed the chain bytes (B6: the OB "
        f"value survives transcoding unchanged): {len(chain_in)} -> {len(chain_out)} bytes")
    problems = _expect_verdict(rec, t, "embedded")
    assert not problems, (f"sealed {source} -> {t.name} ({' '.join(t.argv)}), TS "
                          f"{ref.transfer_syntax(out)}: " + "; ".join(problems) + "\n" + sc.show(rec))


@pytest.mark.parametrize("source,t", TRANSCODE_CASES, ids=[f"{s}-{t.name}" for s, t in TRANSCODE_CASES])
def test_transcoded_file_verifies_with_sidecar(sealed_sources, signer, source, t, tmp_path):
    """Sidecar: seal the original with --sidecar, transcode the original, put the sidecar
    beside the output as OUTPUT.seal in a --sidecar-dir; same expectations."""
    out = sealed_sources["plain_producer"].get(source, t.name)
    assert sc.embedded_chain_bytes(out) is None, f"{out} unexpectedly has a SCANSEAL block"
    side = tmp_path / "sidecars"
    side.mkdir()
    shutil.copyfile(sealed_sources["sidecars"][source], side / (out.name + ".seal"))
    (rec,) = sc.verify(signer, [out], sidecar_dir=side)
    b10 = b10_violation(out)
    _tc_row(source, t, sidecar=rec["verdict"] + (" (B10)" if b10 else ""))
    if b10:
        problem = _b10_expectation(out, rec)
        assert problem is None, f"{source} -> {t.name} with its sidecar: {b10}: {problem}"
        return
    problems = _expect_verdict(rec, t, "sidecar")
    assert not problems, (f"{source} -> {t.name} ({' '.join(t.argv)}) with its sidecar, TS "
                          f"{ref.transfer_syntax(out)}: " + "; ".join(problems) + "\n" + sc.show(rec))


@pytest.fixture(scope="module", autouse=True)
def _transcode_report():
    """After the module: per transcode and source `embedded verdict / sidecar verdict`, and
    per tool whether the private block survived (printed by conftest at the end)."""
    yield
    if not TC_RESULTS:
        return
    short = {s: Path(s).stem.replace("examples_", "")[:14] for s in SOURCES}
    lines = ["  cells: verdict with the seal embedded (block kept by the tool) / with a sidecar; "
             "(B10): unreadable deflate trailer, ERROR by spec",
             f"  {'transcode':30} " + " ".join(f"{short[s]:>27}" for s in SOURCES)]
    for name in dict.fromkeys(n for n, _ in TC_RESULTS):
        cells = []
        for s in SOURCES:
            c = TC_RESULTS.get((name, s))
            if c is None:
                cells.append(f"{'n/a':>27}")
                continue
            emb = c.get("embedded", "?") if c.get("block", "kept") == "kept" else f"DROPPED:{c.get('embedded')}"
            cells.append(f"{emb + ' / ' + c.get('sidecar', '?'):>27}")
        lines.append(f"  {name:30} " + " ".join(cells))
    ireport.add("Seal: transcodes of sealed files (verify verdicts)", *lines)
    ireport.add("Seal: private SCANSEAL block through each tool",
                *[f"  {tool:10} {'/'.join(sorted(v))}" for tool, v in sorted(KEEPS.items())])


# ------------------------------------------------ 4. pycose / cbor2 checks --

def _okp_key_from_pub(pub: Path):
    from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                              load_pem_public_key)
    from pycose.keys import OKPKey
    from pycose.keys.curves import Ed25519

    pk = load_pem_public_key(pub.read_bytes())
    raw = pk.public_bytes(Encoding.Raw, PublicFormat.Raw)
    spki = pk.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return OKPKey(crv=Ed25519, x=raw), hashlib.sha256(spki).digest()[:16]


def _okp_key_from_raw(raw: bytes):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from pycose.keys import OKPKey
    from pycose.keys.curves import Ed25519

    spki = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return OKPKey(crv=Ed25519, x=raw), hashlib.sha256(spki).digest()[:16]


def _pycose_check(envelope: bytes, key, kid: bytes, what: str) -> bytes:
    """Verify with pycose; structure per E1–E5; returns the payload."""
    from pycose.algorithms import EdDSA
    from pycose.headers import KID, Algorithm
    from pycose.messages import Sign1Message

    tagged = sc.decode_strict(envelope, f"{what} envelope")
    assert isinstance(tagged, cbor2.CBORTag) and tagged.tag == 18, f"{what}: not a tagged COSE_Sign1 (18)"
    prot, unprot, payload, sig = tagged.value
    assert prot == PROTECTED_PREFIX + kid, f"{what}: protected header {prot.hex()} (E1)"
    assert unprot == {}, f"{what}: unprotected header {unprot} (E2)"
    assert isinstance(payload, bytes) and payload, f"{what}: payload detached/empty (E3)"
    assert isinstance(sig, bytes) and len(sig) == 64, f"{what}: signature of {len(sig)} bytes"

    msg = Sign1Message.decode(envelope)
    assert msg.phdr.get(Algorithm) is EdDSA, f"{what}: alg {msg.phdr.get(Algorithm)}"
    assert msg.phdr.get(KID) == kid, f"{what}: kid {msg.phdr.get(KID)!r} != {kid.hex()}"
    assert not msg.uhdr, f"{what}: unprotected header {msg.uhdr}"
    msg.key = key
    assert msg.verify_signature() is True, f"{what}: pycose rejects the signature"

    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 0x01
    bad = Sign1Message.decode(cbor2.dumps(cbor2.CBORTag(18, [prot, unprot, bytes(flipped), sig])))
    bad.key = key
    try:
        ok = bad.verify_signature()
    except Exception:
        ok = False
    assert ok is False, f"{what}: pycose accepts the envelope with one payload bit flipped"
    return payload


def _manifest_check(payload: bytes, record: dict, kid: bytes, what: str,
                    predecessor: bytes = b"") -> dict:
    m = sc.decode_strict(payload, f"{what} manifest")
    assert isinstance(m, dict), f"{what}: manifest is not a map"
    keys = set(m)
    assert MANIFEST_KEYS <= keys <= MANIFEST_KEYS | {"claims"}, (
        f"{what}: manifest keys {sorted(keys)}, §3 requires {sorted(MANIFEST_KEYS)} (+ claims)")
    assert m["format"] == "scanseal-seal-v1" and m["canon"] == "canon-v1" \
        and m["key_attributes"] == "key-attributes-v1", f"{what}: version strings {m}"[:300]
    action = "countersigned" if predecessor else "acquired"
    assert m["action"] == action and m["predecessor"] == predecessor, (
        f"{what}: action {m['action']!r}, predecessor {m['predecessor'].hex() or 'empty'}; expected "
        f"{action!r}, {predecessor.hex() or 'empty'} (M1, R5)")
    assert m["signer"] == kid, f"{what}: manifest signer {m['signer']!r} != kid (E6)"
    assert isinstance(m["created"], str) and TIME.match(m["created"]), f"{what}: created {m['created']!r}"
    if "claims" in m:
        assert m["claims"] and set(m["claims"]) <= {"device_id", "operator_id"} and all(
            isinstance(v, str) for v in m["claims"].values()), f"{what}: claims {m['claims']}"
    attrs = m["attributes"]
    assert isinstance(attrs, dict) and all(
        isinstance(k, bytes) and isinstance(v, bytes) and len(v) == 32 for k, v in attrs.items()), (
        f"{what}: attributes must map bstr -> 32-byte digest")
    salts = record["salts"]
    assert set(salts) == set(attrs) and all(len(v) == 16 for v in salts.values()), (
        f"{what}: salts must cover every attribute with 16 bytes (R1, R2)")
    assert len(set(salts.values())) == len(salts), f"{what}: repeated salts (R2: independent per attribute)"
    px = m["pixels"]
    if px is None:
        assert record["tiles"] == [], f"{what}: tiles without pixels (R3)"
    else:
        assert set(px) == {"digest", "mode", "tile_size", "descriptor", "frames"}, f"{what}: pixels keys {set(px)}"
        assert isinstance(px["digest"], bytes) and len(px["digest"]) == 32, f"{what}: pixels.digest"
        assert set(px["descriptor"]) == DESCRIPTOR_KEYS, f"{what}: descriptor keys {set(px['descriptor'])}"
        assert px["frames"] and all(isinstance(f, bytes) and len(f) == 32 for f in px["frames"]), f"{what}: frames"
        sc.check_pixels_section(px, record["tiles"], what)
    return m


def _against_digest(m: dict, dg: dict, what: str) -> list[str]:
    """The manifest commits to what `scanseal digest` computes for the unsealed file."""
    bad = []
    want_ids = {sc.canonical_id(a) for a in dg["attributes"]}
    if set(m["attributes"]) != want_ids:
        bad.append(f"{what}: manifest attribute ids differ from digest's: "
                   f"{len(set(m['attributes']) - want_ids)} extra, {len(want_ids - set(m['attributes']))} missing")
    px = m["pixels"]
    if dg["pixel_mode"] == "none":
        if px is not None:
            bad.append(f"{what}: pixels in the manifest, digest says mode none")
        return bad
    if px is None:
        return bad + [f"{what}: pixels null, digest says {dg['pixel_mode']}"]
    if px["mode"] != dg["pixel_mode"] or px["tile_size"] != dg["tile_size"]:
        bad.append(f"{what}: mode/tile_size {px['mode']}/{px['tile_size']} vs digest "
                   f"{dg['pixel_mode']}/{dg['tile_size']}")
    if px["digest"].hex() != dg["pixel_digest"]:
        bad.append(f"{what}: pixels.digest {px['digest'].hex()} != digest {dg['pixel_digest']}")
    if [f.hex() for f in px["frames"]] != dg["frame_digests"]:
        bad.append(f"{what}: frame digests differ from digest's")
    if px["descriptor"] != dg["descriptor"]:
        bad.append(f"{what}: descriptor {px['descriptor']} vs digest {dg['descriptor']}")
    return bad


def test_pycose_verifies_every_seal(round_trip, signer):
    """Every embedded and sidecar seal of the round trip, read without scanseal."""
    key, kid_from_pub = _okp_key_from_pub(signer.pub)
    kid = bytes.fromhex(signer.key_id)
    assert kid_from_pub == kid, (f"keygen's key id {signer.key_id} != SHA-256(SPKI DER)[:16] "
                                 f"{kid_from_pub.hex()} of {signer.pub} (K4)")
    bad, n = [], Counter()
    for it in round_trip.items:
        for mode, rec in (("embedded", it.rec_embedded), ("sidecar", it.rec_sidecar)):
            if rec is None:
                continue
            what = f"{it.name} ({mode})"
            try:
                if mode == "embedded":
                    raw = sc.embedded_chain_bytes(it.embedded)
                    assert raw is not None, f"{what}: pydicom finds no SCANSEAL block"
                else:
                    raw = it.sidecar_file.with_name(it.sidecar_file.name + ".seal").read_bytes()
                (record,) = sc.chain_records(raw, what)
                payload = _pycose_check(record["envelope"], key, kid, what)
                m = _manifest_check(payload, record, kid, what)
                bad += _against_digest(m, it.digest, what)
                # Compare with verify's report where verify could read the file (a file it
                # could not read already fails the round trip tests).
                if rec["verdict"] != "ERROR":
                    assert hashlib.sha256(record["envelope"]).hexdigest() == rec["chain"][0]["envelope_sha256"], (
                        f"{what}: SHA-256 of the envelope != verify's envelope_sha256")
                    assert len(m["attributes"]) == rec["attributes_checked"], (
                        f"{what}: {len(m['attributes'])} attributes in the manifest, verify says "
                        f"attributes_checked {rec['attributes_checked']}")
                    assert m["created"] == rec["sealed_at"], (
                        f"{what}: created {m['created']} vs sealed_at {rec['sealed_at']}")
                n[mode] += 1
            except AssertionError as e:
                bad.append(f"{e}\n{sc.show(rec, 800)}")
    ireport.add("Seal: independent COSE/CBOR check (pycose, cbor2, spec/reference)",
                f"  envelopes verified by pycose: embedded {n['embedded']}, sidecar {n['sidecar']}; "
                f"manifests checked against scanseal digest; failures {len(bad)}")
    assert n["embedded"] > 100 and n["sidecar"] > 100, f"too few seals checked: {dict(n)}"
    assert not bad, "\n".join(bad)


def test_pycose_committed_vector():
    """spec/vectors/seal/ct-explicit-le with the RFC 8032 TEST 1 key."""
    import json

    vec = json.loads((VECTOR / "vector.json").read_text())
    key, kid = _okp_key_from_raw(bytes.fromhex(TEST1_PUBLIC))
    assert kid.hex() == vec["signer_key_ids"][0], f"K4 key id of TEST 1 {kid.hex()} vs vector {vec['signer_key_ids']}"
    env = (VECTOR / "envelope.cbor").read_bytes()
    assert hashlib.sha256(env).hexdigest() == vec["envelope_sha256"][-1]
    payload = _pycose_check(env, key, kid, "vector envelope.cbor")
    assert payload == (VECTOR / "manifest.cbor").read_bytes(), "envelope payload != manifest.cbor"
    (record,) = sc.chain_records((VECTOR / "chain.cbor").read_bytes(), "vector chain.cbor")
    assert record["envelope"] == env
    m = _manifest_check(payload, record, kid, "vector")
    assert len(m["attributes"]) == vec["attributes"] and m["created"] == vec["created"]
    assert m["pixels"]["digest"].hex() == vec["pixel_digest"] and m["pixels"]["tile_size"] == vec["tile_size"]
    assert sc.embedded_chain_bytes(VECTOR / "sealed.dcm") == (VECTOR / "chain.cbor").read_bytes(), (
        "sealed.dcm's block (read with pydicom) != chain.cbor")

    # The negative vector with a bad signature must fail under pycose too.
    from pycose.messages import Sign1Message

    (bad_rec,) = cbor2.loads((VECTOR / "bad-signature.cbor").read_bytes())["seals"]
    msg = Sign1Message.decode(bad_rec["envelope"])
    msg.key = key
    try:
        ok = msg.verify_signature()
    except Exception:
        ok = False
    assert ok is False, "pycose accepts bad-signature.cbor's envelope"


def test_claims_and_tile_size_are_signed(signer, tmp_path):
    """sign --device-id/--operator-id/--tile-size end up in the signed manifest."""
    src = corpus_file("MR_small.dcm")
    res = sc.sign(signer, [src], out=tmp_path,
                  extra=["--tile-size", "7", "--device-id", "CT-7 serial 0042", "--operator-id", "op-17"])
    assert not res.errors, res.errors
    sealed = tmp_path / src.name
    (rec,) = sc.verify(signer, [sealed])
    assert rec["verdict"] == "INTACT", sc.show(rec)
    (record,) = sc.chain_records(sc.embedded_chain_bytes(sealed), "MR_small tile 7")
    key, kid = _okp_key_from_pub(signer.pub)
    m = _manifest_check(_pycose_check(record["envelope"], key, kid, "MR_small tile 7"), record, kid,
                        "MR_small tile 7")
    assert m.get("claims") == {"device_id": "CT-7 serial 0042", "operator_id": "op-17"}, m.get("claims")
    assert m["pixels"]["tile_size"] == 7
    (dg,) = cli.digest([src], salt_seed=None, tile_size=7)
    assert not _against_digest(m, dg, "MR_small tile 7"), _against_digest(m, dg, "MR_small tile 7")
    assert len(record["tiles"][0]) == 32 * dg["tiles"], "tiles of frame 0 vs digest's tile count"


def test_countersignature_chain(signer, tmp_path):
    """sign --append: a chain of two seals, each verified by pycose with its own key; the
    second links to the first (R5); only the chain value changed (B4) and the file is still
    the original plus the block (B3). Implicit VR: the block reads as UN."""
    other = sc.make_signer(tmp_path / "other", "counter", store=signer.store)
    work = tmp_path / "f.dcm"
    shutil.copyfile(corpus_file("MR_small_implicit.dcm"), work)
    assert not sc.sign(signer, [work], in_place=True).errors
    (env1,) = [r["envelope"] for r in sc.chain_records(sc.embedded_chain_bytes(work), "seal 1")]
    refused = sc.sign(other, [work], in_place=True)
    assert refused.errors and not refused.sealed, "a second seal without --append must be refused (§6.3)"
    res = sc.sign(other, [work], in_place=True, extra=["--append"])
    assert not res.errors, res.errors
    (rec,) = sc.verify(signer, [work])
    assert rec["verdict"] == "INTACT" and [c["action"] for c in rec["chain"]] == ["acquired", "countersigned"] \
        and rec["signer"]["key_id"] == other.key_id, sc.show(rec)
    r1, r2 = sc.chain_records(sc.embedded_chain_bytes(work), "chain of 2")
    assert r1["envelope"] == env1, "the first envelope changed when countersigning"
    (k1, kid1), (k2, kid2) = _okp_key_from_pub(signer.pub), _okp_key_from_pub(other.pub)
    m1 = _manifest_check(_pycose_check(env1, k1, kid1, "seal 1"), r1, kid1, "seal 1")
    m2 = _manifest_check(_pycose_check(r2["envelope"], k2, kid2, "seal 2"), r2, kid2, "seal 2",
                         predecessor=hashlib.sha256(env1).digest())
    assert set(m2["attributes"]) == set(m1["attributes"]) and m2["pixels"] == m1["pixels"], (
        "the countersignature attests other content than the seal before it")
    assert [c["envelope_sha256"] for c in rec["chain"]] == [
        hashlib.sha256(e).hexdigest() for e in (env1, r2["envelope"])]
    diff = _byte_diff(corpus_file("MR_small_implicit.dcm"), work)
    assert diff is None, f"after --append: {diff}"


# --------------------------------------------------- 5. dcmodify edits --

DCMODIFY_CASES = (
    # (source, dcmodify args, verdict, finding kind, keyword)
    ("CT_small.dcm", ("-m", "(0010,0010)=Someone^Else"), "ALTERED", "attribute_changed", "PatientName"),
    ("examples_palette.dcm", ("-i", "(0020,4000)=added"), "ALTERED", "attribute_added", "ImageComments"),
    ("CT_small.dcm", ("-i", "(0020,4000)=added"), "ALTERED", "attribute_changed", "ImageComments"),
    ("CT_small.dcm", ("-i", "(0008,2111)=x"), "MODIFIED", "attribute_added", "DerivationDescription"),
)


@pytest.mark.parametrize("mode", ["embedded", "sidecar"])
@pytest.mark.parametrize("source,args,verdict,kind,keyword", DCMODIFY_CASES,
                         ids=[f"{c[0]}-{c[4]}-{c[3]}" for c in DCMODIFY_CASES])
def test_dcmodify_edit_is_reported(signer, tmp_path, mode, source, args, verdict, kind, keyword):
    require_tool("dcmodify")
    orig = corpus_file(source)
    has = keyword in ref.read(orig, stop_before_pixels=True)
    assert has == (kind == "attribute_changed"), (
        f"precondition: {source} {'has' if has else 'lacks'} {keyword}; this case expects {kind}")
    if mode == "embedded":
        res = sc.sign(signer, [orig], out=tmp_path)
        target, side = tmp_path / source, None
    else:
        target = tmp_path / source
        shutil.copyfile(orig, target)
        res = sc.sign(signer, [target], sidecar=True)
        side = target.with_name(target.name + ".seal")
    assert not res.errors, res.errors
    (before,) = sc.verify(signer, [target])
    assert before["verdict"] == "INTACT", sc.show(before)

    p = subprocess.run(["dcmodify", "-nb", *args, str(target)], capture_output=True, timeout=60)
    assert p.returncode == 0, f"dcmodify {' '.join(args)} failed: {p.stderr.decode()[-800:]}"
    leftovers = sorted(x.name for x in tmp_path.iterdir() if x.name.endswith(".bak"))
    assert not leftovers, f"dcmodify -nb left backup files {leftovers}"
    if mode == "embedded":
        assert sc.embedded_chain_bytes(target) is not None, "dcmodify dropped the SCANSEAL block"
    else:
        assert side.is_file() and sc.embedded_chain_bytes(target) is None

    (rec,) = sc.verify(signer, [target])
    attr = [f for f in rec["findings"] if f["kind"] in sc.ATTRIBUTE_KINDS]
    assert rec["verdict"] == verdict and rec["seal_source"] == mode, (
        f"dcmodify {' '.join(args)} on sealed {source}: expected {verdict}\n{sc.show(rec)}")
    assert not sc.pixel_findings(rec) and len(attr) == 1, f"expected exactly one finding\n{sc.show(rec)}"
    assert attr[0]["kind"] == kind and attr[0]["keyword"] == keyword, (
        f"expected {kind} {keyword}\n{sc.show(rec)}")
    assert attr[0]["key"] == (verdict == "ALTERED"), f"key flag\n{sc.show(rec)}"
    if verdict == "MODIFIED":
        sc.verify(signer, [target], strict=True)  # contract: --strict makes MODIFIED exit 1


LOSSY_TRANSCODES = [
    # DCMTK: JPEG extended (process 2/4), lossy for 12-bit CT.
    ("dcmcjpeg-extended", ("dcmcjpeg", "+ee", "{src}", "{dst}")),
    # GDCM: irreversible JPEG 2000 at a fixed quality.
    ("gdcmconv-j2k-lossy", ("gdcmconv", "--j2k", "--lossy", "-q", "30", "{src}", "{dst}")),
]


@pytest.mark.parametrize("name,argv", LOSSY_TRANSCODES, ids=[n for n, _ in LOSSY_TRANSCODES])
def test_lossy_transcode_is_altered(signer, name, argv, tmp_path):
    """threat-model.md §2: a lossy re-encoding by a real tool is not a transcode scanseal
    forgives. CT_small sealed with a sidecar, re-encoded lossily, verified with the sidecar:
    ALTERED with a pixel finding; pydicom confirms the samples really changed."""
    require_tool(argv[0])
    src = tmp_path / "CT_small.dcm"
    shutil.copyfile(corpus_file("CT_small.dcm"), src)
    sc.sign(signer, [src], sidecar=True)
    dst = tmp_path / "lossy" / "CT_small.dcm"
    dst.parent.mkdir()
    subprocess.run([a.format(src=src, dst=dst) for a in argv], check=True, capture_output=True)
    shutil.copyfile(src.with_name(src.name + ".seal"), dst.with_name(dst.name + ".seal"))
    before = pydicom.dcmread(src).pixel_array
    after = pydicom.dcmread(dst).pixel_array
    assert (before != after).any(), f"{name} was expected to be lossy on CT_small"
    (rec,) = sc.verify(signer, [dst])
    assert rec["verdict"] == "ALTERED", sc.show(rec)
    assert pixel_findings(rec), sc.show(rec)
