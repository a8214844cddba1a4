"""`scanseal deidentify` output read by DCMTK, GDCM and pydicom (spec/deidentification.md).

Real corpus files in every transfer syntax scanseal de-identifies (Explicit/Implicit VR LE,
Explicit VR BE, Deflated, RLE, JPEG-LS lossless, JPEG 2000 lossless, JPEG baseline; single-
and multi-frame, grey and RGB) are sealed with `sign --ledger` by an acquisition key, then
de-identified in one `deidentify --ledger --uid-secret` run by a key made with `keygen` and
trusted for role `deidentification`. Checked per output, independently of scanseal:

- pydicom (no force, validation mode RAISE) reads it; decoded pixels equal the original's;
  transfer syntax kept; PatientName empty; PS3.15 D5 markers (PatientIdentityRemoved YES, code
  113100 DCM); SOP/Study/Series Instance UIDs replaced by `2.25.<n>` UIDs; File Meta SOP
  Instance UID follows; zero preamble; no private element but the `SCANSEAL 1` block, whose
  chain has two seals;
- DCMTK `dcmdump` (no E:/F: line), `dcmftest`, GDCM `gdcmdump`/`gdcminfo` read it;
- PHI: the original's identifying strings (patient name/ID/birth date, institution, the
  instance/study/series UIDs, and every non-CS text value the JSON says was withheld or
  replaced) appear nowhere in the file bytes (the inflated data set for Deflated) except
  inside attributes that were kept unchanged, nor in the seal chain's text strings, nor in the
  ledger (database, -wal, -shm, and its text columns); see SHORT for strings short enough to
  occur by chance in random bytes;
- the JSON `deidentification` lists agree with a pydicom comparison of original and output
  under canon C5.1.1 (withheld = only in the original, added = only in the output, replaced =
  changed, kept = equal, and the counts `deidentify` printed);
- `verify --ledger --json`: INTACT, chain acquired/deidentified both trusted, ledger entry
  `deidentified` = the one `deidentify` reported, the contract reason with N = len(withheld),
  M = len(replaced).

Then: UID consistency (same old UID -> same new UID across files, references inside
SourceImageSequence follow the referenced file; a second run with the same secret gives the
same UIDs, another secret or none gives others), pydicom edits after de-identification
(pixel, kept key / non-key attribute, withheld attribute re-added) and lossless transcodes of
de-identified files by DCMTK and GDCM.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pydicom.multival
import pytest
from pydicom import config as pydicom_config
from pydicom.datadict import dictionary_keyword
from pydicom.filereader import _read_file_meta_info, data_element_generator, read_preamble
from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian,
                         ExplicitVRLittleEndian, ImplicitVRLittleEndian)

import ireport
import seal_cli as sc
from ienv import REPO_ROOT, MissingPrerequisite, corpus_file

# name -> what it covers
FILES = {
    "CT_small.dcm": "Explicit VR LE, GE private groups",
    "MR_small.dcm": "Explicit VR LE",
    "MR_small_implicit.dcm": "Implicit VR LE",
    "MR_small_bigendian.dcm": "Explicit VR BE",
    "MR_small_RLE.dcm": "RLE Lossless",
    "MR_small_jpeg_ls_lossless.dcm": "JPEG-LS Lossless",
    "MR_small_jp2klossless.dcm": "JPEG 2000 Lossless",
    "SC_rgb_rle_2frame.dcm": "RLE Lossless, RGB, 2 frames",
    "image_dfl.dcm": "Deflated Explicit VR LE (GDCM gzip trailer)",
    "rtdose.dcm": "Implicit VR LE, 15 frames, references an RT plan",
    "examples_rgb_color.dcm": "Explicit VR LE, RGB",
    "examples_jpeg2k.dcm": "JPEG 2000 Lossless, RGB (same study as examples_rgb_color)",
    "SC_rgb_small_odd_big_endian.dcm": "Explicit VR BE, RGB, odd size, SourceImageSequence",
    "SC_rgb_small_odd_jpeg.dcm": "JPEG baseline (lossy, encoded frames), references the above",
}
KEYS_EXAMPLE = REPO_ROOT / "keys-example"
ACQ = "example-ct-01"
DEID = "deid-service-01"
LEDGER_KEY = "example-ledger-01"
ORIGIN = "interop.scanseal.example/deidentify"

# spec/canonical-form.md §7 (key-attributes-v1), the attributes the edits below touch
KEY_ATTRIBUTES = {"SliceThickness", "PatientAge", "PatientBirthDate", "PatientName"}
NOT_KEY = {"KVP", "PatientWeight"}
# PS3.15 D5: what the de-identifier adds
D5_ADDED = ("PatientIdentityRemoved", "DeidentificationMethod",
            "DeidentificationMethodCodeSequence", "LongitudinalTemporalInformationModified")
REPLACED_ACTIONS = {"emptied", "dummy", "cleaned", "uid-replaced", "dates-shifted",
                    "items-deidentified"}
PHI_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName",
                "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
# UIDs the Basic Profile replaces (U) wherever they occur
U_KEYWORDS = {"SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID",
              "ReferencedSOPInstanceUID", "ReferencedFrameOfReferenceUID",
              "InstanceCreatorUID"}
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
            "UC", "UI", "UR", "UT"}
DESCRIPTOR_TAGS = {0x00280002, 0x00280004, 0x00280006, 0x00280008, 0x00280010, 0x00280011,
                   0x00280100, 0x00280101, 0x00280102, 0x00280103}
PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009, 0x7FE00001, 0x7FE00002}

REASON = re.compile(
    r"^pixels intact since acquisition \(sealed by (.+) at (.+)\); de-identified by (.+) at (.+) "
    r"under the Basic Profile; (\d+) attributes withheld, (\d+) replaced; no other change")
_SEALED = re.compile(r"^SEALED (.+) -> (.+) \(key ([0-9a-f]{32}), ledger entry #(\d+)\)$")
_DEIDENTIFIED = re.compile(
    r"^DEIDENTIFIED (.+) -> (.+) \(key ([0-9a-f]{32}), seal (\d+) of the chain; (\d+) attributes "
    r"withheld, (\d+) replaced, (\d+) added, (\d+) kept(?:, ledger entry #(\d+))?\)$")
_UID_2_25 = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")

# rtdose.dcm carries an invalid UID (a leading-zero component) that pydicom warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI:UserWarning")


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingPrerequisite(f"{name} not found on PATH: run scripts/prereqs.sh or "
                                  f"apt-get install {package}")
    return path


def run_tool(argv: list, what: str) -> subprocess.CompletedProcess:
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (f"{what}: `{' '.join(map(str, argv))}` exit {p.returncode}\n"
                               f"stdout: {p.stdout[-1500:]}\nstderr: {p.stderr[-1500:]}")
    return p


@dataclass(frozen=True)
class Done:
    name: str
    original: Path
    sealed: Path
    out: Path
    acq_seq: int
    seq: int  # ledger entry deidentify reported
    counts: tuple[int, int, int, int]  # withheld, replaced, added, kept as printed


@dataclass(frozen=True)
class Lab:
    root: Path
    keys: Path
    trust: Path
    db: Path
    secret: Path
    acq_id: str
    deid_id: str
    files: dict[str, Done]
    records: dict[str, dict]  # verify --ledger --json of each output
    explained: dict[str, tuple[str, list[str]]]  # verify --ledger --explain: line, indented lines


def secret_file(path: Path) -> Path:
    path.write_bytes(os.urandom(32))
    os.chmod(path, 0o600)
    return path


def deidentify(lab_keys: Path, inputs: list, out: Path, *, secret: Path | None,
               db: Path | None) -> dict[str, tuple[Path, re.Match]]:
    """`scanseal deidentify`; every input must be done (exit 0, one line each)."""
    args: list = ["deidentify", "--key", lab_keys / f"{DEID}.key", "--out", out]
    if secret is not None:
        args += ["--uid-secret", secret]
    if db is not None:
        args += ["--ledger", db]
    p = sc.run([*args, *inputs], ok=(0, 1))
    done, errors = {}, []
    for line in (p.stdout + p.stderr).splitlines():
        m = _DEIDENTIFIED.match(line)
        if m:
            done[Path(m.group(1)).name] = (Path(m.group(2)), m)
        elif line.startswith("ERROR "):
            errors.append(line)
    assert not errors and p.returncode == 0, (
        "deidentify refused files:\n" + "\n".join(errors) + "\n" + p.describe())
    return done


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    root = tmp_path_factory.mktemp("deidentify")
    keys = root / "keys"
    keys.mkdir()
    for n in (ACQ, LEDGER_KEY):
        for ext in (".key", ".pub"):
            shutil.copyfile(KEYS_EXAMPLE / (n + ext), keys / (n + ext))
        os.chmod(keys / (n + ".key"), 0o600)
    p = sc.run(["keygen", "--out", keys, "--name", DEID])
    m = re.search(r"key id ([0-9a-f]{32})", p.stdout)
    assert m, p.describe()
    deid_id = m.group(1)
    trust = root / "trust.toml"
    sc.run(["trust", "add", "--store", trust, "--role", "acquisition", keys / f"{ACQ}.pub"])
    sc.run(["trust", "add", "--store", trust, "--role", "deidentification", "--name", DEID,
            keys / f"{DEID}.pub"])
    sc.run(["trust", "add", "--store", trust, "--role", "ledger", keys / f"{LEDGER_KEY}.pub"])
    db = root / "ledger.db"
    sc.run(["ledger", "init", "--origin", ORIGIN, db])

    src = root / "src"
    src.mkdir()
    for n in FILES:
        shutil.copyfile(corpus_file(n), src / n)
    p = sc.run(["sign", "--key", keys / f"{ACQ}.key", "--ledger", db, "--out", root / "sealed",
                *[src / n for n in FILES]], ok=(0, 1))
    sealed, acq_ids = {}, set()
    for line in p.stdout.splitlines():
        m = _SEALED.match(line)
        if m:
            acq_ids.add(m.group(3))
            sealed[Path(m.group(1)).name] = (Path(m.group(2)), int(m.group(4)))
    assert sorted(sealed) == sorted(FILES), f"sign sealed {sorted(sealed)} of {sorted(FILES)}:\n{p.describe()}"
    assert len(acq_ids) == 1, p.describe()

    secret = secret_file(root / "uid-secret")
    # The directory is given: deidentify walks it and mirrors it under --out.
    done = deidentify(keys, [root / "sealed"], root / "deid", secret=secret, db=db)
    assert sorted(done) == sorted(FILES), f"deidentify did {sorted(done)} of {sorted(FILES)}"
    files = {}
    for n, (out, m) in done.items():
        assert out == root / "deid" / n, f"--out should mirror the tree: {out}"
        assert m.group(3) == deid_id and m.group(4) == "2" and m.group(9), m.group(0)
        files[n] = Done(n, src / n, sealed[n][0], out, sealed[n][1], int(m.group(9)),
                        tuple(int(m.group(i)) for i in (5, 6, 7, 8)))
    seqs = [f.seq for f in files.values()] + [f.acq_seq for f in files.values()]
    assert len(set(seqs)) == len(seqs), f"ledger entries reused: {seqs}"

    outs = [files[n].out for n in FILES]
    recs = verify_json(trust, db, outs)
    return Lab(root, keys, trust, db, secret, acq_ids.pop(), deid_id, files,
               dict(zip(FILES, recs)), dict(zip(FILES, verify_explain(trust, db, outs))))


def verify_explain(trust: Path, db: Path, paths: list[Path]) -> list[tuple[str, list[str]]]:
    """`verify --ledger --explain` text: per file its verdict line and its indented lines."""
    p = sc.run(["verify", "--trust", trust, "--ledger", db, "--explain", *paths], ok=(0, 1))
    out: list[tuple[str, list[str]]] = []
    for line in p.stdout.splitlines():
        if line.startswith("    "):
            assert out, f"indented line before any verdict line: {line!r}"
            out[-1][1].append(line[4:])
        elif not line.startswith("SUMMARY "):
            out.append((line, []))
    assert len(out) == len(paths), p.describe()
    return out


def verify_json(trust: Path, db: Path | None, paths: list[Path]) -> list[dict]:
    args: list = ["verify", "--trust", trust, "--json"]
    if db is not None:
        args += ["--ledger", db]
    p = sc.run([*args, *paths], ok=(0, 1))
    recs, summary = sc.read_verify_output(p)
    assert [r["path"] for r in recs] == [str(x) for x in paths], p.describe()
    assert summary["exit_status"] == p.returncode, p.describe()
    return recs


# ------------------------------------------------------------ pydicom view --

def read_strict(path: Path):
    """dcmread without force, validation RAISE, every element converted."""
    old = pydicom_config.settings.reading_validation_mode
    pydicom_config.settings.reading_validation_mode = pydicom_config.RAISE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ds = pydicom.dcmread(path)
            for el in ds.iterall():
                el.value  # noqa: B018
        return ds
    finally:
        pydicom_config.settings.reading_validation_mode = old


def read(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def private_creator(ds, tag) -> str | None:
    ctag = (tag.group << 16) | (tag.element >> 8)
    if tag.element >> 8 < 0x10 or ctag not in ds:
        return None
    v = ds[ctag].value
    if isinstance(v, bytes):
        v = v.decode("latin-1")
    return str(v).rstrip("\x00 ").lstrip(" ")


def is_seal_element(ds, tag) -> bool:
    if tag.group != sc.SEAL_GROUP:
        return False
    if 0x10 <= tag.element <= 0xFF:
        creator = ds[tag].value
        creator = creator.decode("latin-1") if isinstance(creator, bytes) else str(creator)
        return creator.rstrip("\x00 ").lstrip(" ") == sc.SCANSEAL_CREATOR
    return private_creator(ds, tag) == sc.SCANSEAL_CREATOR


def attr_name(ds, tag) -> str:
    """How the report names an attribute: keyword, (GGGG,"creator",XX), or (GGGG,EEEE)."""
    if tag.group % 2 == 1:
        creator = private_creator(ds, tag)
        if creator is not None:
            return f'({tag.group:04X},"{creator}",{tag.element & 0xFF:02X})'
        return f"({tag.group:04X},{tag.element:04X})"
    try:
        kw = dictionary_keyword(tag)
    except KeyError:
        kw = ""
    return kw or f"({tag.group:04X},{tag.element:04X})"


def canonical(ds) -> dict[str, object]:
    """Top-level canonical attributes by report name (canon C5.1.1) -> element."""
    has_pixels = any(t in ds for t in PIXEL_TAGS)
    out = {}
    for el in ds:
        t = el.tag
        if (t.group == 0x0002 or t.element == 0 or t == 0x00080005 or t in PIXEL_TAGS
                or t in (0xFFFAFFFA, 0x4FFE0001, 0xFFFCFFFC)
                or (t.group % 2 == 1 and 0x10 <= t.element <= 0xFF)
                or is_seal_element(ds, t) or (has_pixels and t in DESCRIPTOR_TAGS)):
            continue
        name = attr_name(ds, t)
        assert name not in out, f"two attributes named {name}"
        out[name] = el
    return out


def text_values(el) -> list[str]:
    """Text values of an element (all nested values for a sequence), CS excepted."""
    if el.VR == "SQ":
        return [v for item in el.value for sub in item for v in text_values(sub)]
    if el.VR not in TEXT_VRS or el.VR == "CS" or el.value is None:
        return []
    vals = el.value if isinstance(el.value, (list, pydicom.multival.MultiValue)) else [el.value]
    return [str(v) for v in vals]


def nested_u_uids(el) -> list[str]:
    """UIDs the Basic Profile replaces, inside a sequence."""
    out = []
    for item in el.value:
        for sub in item:
            if sub.VR == "SQ":
                out += nested_u_uids(sub)
            elif sub.keyword in U_KEYWORDS and sub.value:
                out.append(str(sub.value))
    return out


def data_set_regions(path: Path) -> tuple[bytes, bytes, list[tuple[int, int, int]]]:
    """(bytes before the data set, data set bytes -- inflated for Deflated --, and the
    top-level elements as (tag, start, end) byte ranges in the data set)."""
    raw = path.read_bytes()
    fp = io.BytesIO(raw)
    read_preamble(fp, False)
    meta = _read_file_meta_info(fp)
    start = fp.tell()
    ts = meta.TransferSyntaxUID
    body = raw[start:]
    if ts == DeflatedExplicitVRLittleEndian:
        body = zlib.decompressobj(-15).decompress(body)
    bf = io.BytesIO(body)
    regions, prev = [], 0
    for el in data_element_generator(bf, ts == ImplicitVRLittleEndian, ts != ExplicitVRBigEndian):
        end = bf.tell()
        regions.append((int(el.tag), prev, end))
        prev = end
    assert prev == len(body), f"{path}: top-level walk ended at {prev} of {len(body)}"
    return raw[:start], body, regions


@dataclass(frozen=True)
class Cand:
    why: str  # the attribute it came from
    phi: bool  # one of PHI_KEYWORDS: searched as raw bytes everywhere, whatever its length


def phi_candidates(original, rec: dict) -> dict[str, Cand]:
    """Strings of the original that must not survive: value -> where it came from."""
    cands: dict[str, Cand] = {}

    def add(v: str, why: str, phi: bool = False) -> None:
        v = v.strip("\x00 ")
        if len(v) >= 4 and not v.startswith("1.2.840.10008."):
            cands.setdefault(v, Cand(why, phi))

    for kw in PHI_KEYWORDS:
        if kw in original and original[kw].value not in (None, ""):
            add(str(original[kw].value), kw, True)
    d = rec["deidentification"]
    gone = set(d["withheld"])
    # Beyond the PHI keywords: every withheld or replaced text value, except coded strings
    # (CS: defined terms such as TEXT or ORIGINAL identify nobody).
    changed = {x["attribute"]: x["action"] for x in d["replaced"]}
    for name, el in canonical(original).items():
        if name in gone:
            for v in text_values(el):
                add(v, f"{name} (withheld)")
        elif name in changed:
            if el.VR == "SQ":
                for v in nested_u_uids(el):
                    add(v, f"UID in {name} ({changed[name]})")
            else:
                for v in text_values(el):
                    add(v, f"{name} ({changed[name]})")
    return cands


# Random bytes (salts, signatures, digests in the seal block and the ledger) and the decimal
# digits of fresh 2.25 UIDs may contain a short string by chance. So a value shorter than
# SHORT found there is searched in the CBOR text strings of the chain (the ledger's text
# columns) instead -- except PHI_KEYWORDS values, searched raw everywhere -- and an
# all-digit value is not searched inside a new 2.25 UID.
SHORT = 8


def cbor_texts(data: bytes, depth: int = 0) -> list[str]:
    """Text strings of a CBOR item, descending into byte strings that are CBOR themselves
    (the envelope, its payload)."""
    import cbor2

    fp = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(fp).decode()
    except Exception:
        return []
    if fp.tell() != len(data):
        return []
    out: list[str] = []

    def walk(x) -> None:
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, bytes):
            if depth < 4:
                out.extend(cbor_texts(x, depth + 1))
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(k)
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
        elif isinstance(x, cbor2.CBORTag):
            walk(x.value)

    walk(item)
    return out


def leaks(done: Done, rec: dict, path: Path | None = None) -> list[str]:
    """Candidates found in the output (or `path`) outside attributes kept unchanged (pixel
    data counts as kept: it is the original's)."""
    path = path or done.out
    a, b = read(done.original), read(path)
    d = rec["deidentification"]
    other = set(d["withheld"]) | {x["attribute"] for x in d["replaced"]} | set(d["added"])
    kept_tags = set(PIXEL_TAGS)
    new_uids, chain_tags = set(), set()
    for el in b:
        t = el.tag
        if t.group % 2 == 0 and t in a and a[t] == el and attr_name(b, t) not in other:
            kept_tags.add(int(t))
        if el.VR == "UI" and _UID_2_25.match(str(el.value or "")):
            new_uids.add(int(t))
        if is_seal_element(b, t):
            chain_tags.add(int(t))
    chain = sc.embedded_chain_bytes(path)
    texts = "\n".join(cbor_texts(chain)) if chain else ""
    head, body, regions = data_set_regions(path)
    bad = []
    for s, c in phi_candidates(a, rec).items():
        needle = s.encode("utf-8", "replace")
        if needle in head:
            bad.append(f"{c.why} {s!r} in the preamble/File Meta Information")
        if s in texts:
            bad.append(f"{c.why} {s!r} in a text string of the seal chain")
        short = len(s) < SHORT and not c.phi
        for m in re.finditer(re.escape(needle), body):
            tag = next(t for t, lo, hi in regions if lo <= m.start() < hi)
            if tag in kept_tags or (tag in chain_tags and short) or \
                    (tag in new_uids and s.isdigit()):
                continue
            bad.append(f"{c.why} {s!r} at data set offset {m.start()} inside "
                       f"({tag >> 16:04X},{tag & 0xFFFF:04X})")
    return bad


# ------------------------------------------------- 1-2. every output file --

@pytest.mark.parametrize("name", list(FILES))
def test_pydicom_reads_deidentified_file(lab, name):
    f = lab.files[name]
    a = read(f.original)
    b = read_strict(f.out)  # no force, validation RAISE: every value valid for its VR
    ts = a.file_meta.TransferSyntaxUID
    assert b.file_meta.TransferSyntaxUID == ts, (
        f"transfer syntax changed {ts.name} -> {b.file_meta.TransferSyntaxUID.name}")
    assert np.array_equal(a.pixel_array, b.pixel_array), "decoded pixels differ from the original"
    assert str(b.get("PatientName", "") or "") == "", f"PatientName {b.get('PatientName')!r}"
    assert str(a.get("PatientName", "") or ""), "test file should have a PatientName"
    assert b.get("PatientIdentityRemoved") == "YES", repr(b.get("PatientIdentityRemoved"))
    codes = [(i.get("CodeValue"), i.get("CodingSchemeDesignator"))
             for i in b.get("DeidentificationMethodCodeSequence", [])]
    assert ("113100", "DCM") in codes, f"DeidentificationMethodCodeSequence codes {codes}"
    assert str(b.get("DeidentificationMethod", "") or ""), "DeidentificationMethod empty"
    assert b.get("LongitudinalTemporalInformationModified") in ("UNMODIFIED", "MODIFIED", "REMOVED")
    for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        old, new = str(a.get(kw, "")), str(b.get(kw, ""))
        assert old and new != old, f"{kw} not replaced: {old!r} -> {new!r}"
        assert _UID_2_25.match(new) and int(new[5:]) < 2**128 and len(new) <= 64, \
            f"{kw} {new!r} is not a 2.25 UUID-derived UID"
    assert b.file_meta.MediaStorageSOPInstanceUID == b.SOPInstanceUID
    assert b.file_meta.MediaStorageSOPClassUID == b.SOPClassUID == a.SOPClassUID
    raw = f.out.read_bytes()
    assert raw[:128] == bytes(128) and raw[128:132] == b"DICM", "preamble not zero / no DICM"

    # No private element except the seal block, at any level.
    private = [str(el.tag) for el in b.iterall() if el.tag.group % 2 == 1]
    top_block = [str(el.tag) for el in b if el.tag.group % 2 == 1 and is_seal_element(b, el.tag)]
    extra = sorted(set(private) - set(top_block))
    assert not extra, f"private elements left: {extra}"
    assert sc.seal_blocks(b) and len(top_block) == 2, f"seal block elements {top_block}"
    chain = sc.chain_records(sc.embedded_chain_bytes(f.out), str(f.out))
    assert len(chain) == 2, f"{len(chain)} seals in the chain"


@pytest.mark.parametrize("name", list(FILES))
def test_dcmtk_and_gdcm_read_deidentified_file(lab, name):
    out = lab.files[name].out
    p = subprocess.run([tool("dcmdump", "dcmtk"), "-E", str(out)], capture_output=True,
                       text=True, timeout=60)
    complaints = [x for x in p.stderr.splitlines() if re.match(r"^[EF]: ", x)]
    assert p.returncode == 0 and not complaints, f"dcmdump exit {p.returncode}: {complaints or p.stderr[-800:]}"
    assert re.search(r"\(7ff1,00[1-9a-f][0-9a-f]\) (LO|\?\?) \[SCANSEAL 1\]", p.stdout), \
        "dcmdump does not show the SCANSEAL 1 block"
    warns = [x for x in p.stderr.splitlines() if x.startswith("W: ")]
    t = run_tool([tool("dcmftest", "dcmtk"), out], "dcmftest")
    assert t.stdout.startswith("yes:"), f"dcmftest: {t.stdout!r}"
    for argv in ([tool("gdcmdump", "libgdcm-tools")], [tool("gdcminfo", "libgdcm-tools")]):
        g = run_tool([*argv, out], argv[0])
        errs = [x for x in g.stderr.splitlines() if "rror" in x]
        assert not errs, f"{argv[0]}: {errs}"
    ireport.add("De-identified by scanseal: readers",
                f"  {name:34s} {FILES[name]}: pydicom, dcmdump ({len(warns)} W:), dcmftest, "
                "gdcmdump, gdcminfo ok")


@pytest.mark.parametrize("name", list(FILES))
def test_no_phi_in_deidentified_file(lab, name):
    f = lab.files[name]
    bad = leaks(f, lab.records[name])
    assert not bad, "original values left in the output:\n  " + "\n  ".join(bad)
    # The search finds them in the sealed input (which still holds them).
    control = leaks(f, lab.records[name], f.sealed)
    assert any(x.startswith("PatientName ") for x in control) \
        and any(x.startswith("SOPInstanceUID ") for x in control), control


def ledger_texts(db: Path) -> str:
    """Every text value of every table (read-only: the files are not touched)."""
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = []
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in con.execute(f'SELECT * FROM "{table}"'):
                out += [v for v in row if isinstance(v, str)]
        return "\n".join(out)
    finally:
        con.close()


def test_no_phi_in_ledger(lab):
    blobs = {p.name: p.read_bytes() for p in lab.db.parent.glob(lab.db.name + "*")}
    assert lab.db.name in blobs
    texts = ledger_texts(lab.db)
    assert ORIGIN in texts, "ledger text columns not read"
    bad = []
    for name, f in lab.files.items():
        for s, c in phi_candidates(read(f.original), lab.records[name]).items():
            if s in texts:
                bad.append(f"{name}: {c.why} {s!r} in a text column")
            if len(s) < SHORT and not c.phi:
                continue  # random digests may hold it by chance; text columns checked above
            for fn, data in blobs.items():
                if s.encode("utf-8", "replace") in data:
                    bad.append(f"{name}: {c.why} {s!r} in {fn}")
    assert not bad, "\n".join(bad)
    p = sc.run(["ledger", "verify", lab.db, "--trust", lab.trust, "--json"])
    v = json.loads(p.stdout)
    assert v["verdict"] == "INTACT" and v["size"] == 2 * len(lab.files), p.describe()
    ireport.add("De-identified by scanseal: readers",
                f"  ledger ({', '.join(sorted(blobs))}): no original value of {len(lab.files)} "
                "files; ledger verify INTACT")


@pytest.mark.parametrize("name", list(FILES))
def test_verify_report(lab, name):
    f, r = lab.files[name], lab.records[name]
    show = sc.show(r)
    assert r["verdict"] == "INTACT" and r["findings"] == [], show
    assert r["seal_source"] == "embedded", show
    assert r["signer"]["key_id"] == lab.deid_id and r["signer"]["role"] == "deidentification", show
    chain = r["chain"]
    assert [c["action"] for c in chain] == ["acquired", "deidentified"], show
    assert [c["trust"] for c in chain] == ["trusted", "trusted"], show
    assert [c["signer"]["key_id"] for c in chain] == [lab.acq_id, lab.deid_id], show
    lg = r["ledger"]
    assert lg["status"] == "recorded" and lg["entry"]["kind"] == "deidentified" \
        and lg["entry"]["seq"] == f.seq \
        and lg["entry"]["envelope_sha256"] == chain[1]["envelope_sha256"], show

    d = r["deidentification"]
    assert d["profile"] == "basic" and d["options"] == [], show
    assert d["signer"]["key_id"] == lab.deid_id and d["created"] == chain[1]["created"], show
    m = REASON.match(r["reason"])
    assert m, f"reason does not follow the contract: {r['reason']!r}"
    assert m.group(1) == ACQ and m.group(2) == chain[0]["created"], r["reason"]
    assert m.group(3) == DEID and m.group(4) == chain[1]["created"], r["reason"]
    assert (int(m.group(5)), int(m.group(6))) == (len(d["withheld"]), len(d["replaced"])), r["reason"]
    assert r["reason"][m.end():] == f"; recorded in the ledger as entry #{f.seq}", r["reason"]
    # Text and --explain say the same (spec/report.md §2), keywords only.
    line, explain = lab.explained[name]
    assert line == f"INTACT {f.out}: {r['reason']}", f"text line {line!r} != JSON reason"
    assert explain[0] == f"de-identified by {DEID} at {d['created']} under the Basic Profile:", explain
    lists = {k: v.split(", ") for k, _, v in (x[2:].partition(": ") for x in explain[1:])}
    assert lists.get("withheld", []) == d["withheld"], explain
    assert lists.get("replaced", []) == [f"{x['attribute']} ({x['action']})" for x in d["replaced"]], explain
    assert lists.get("added", []) == d["added"], explain
    assert lists["kept unchanged"][0] == f"{d['kept']} attributes", explain
    printed = (len(d["withheld"]), len(d["replaced"]), len(d["added"]), d["kept"])
    assert printed == f.counts, f"deidentify printed {f.counts}, verify says {printed}"
    assert r["attributes_checked"] == d["kept"] + len(d["replaced"]) + len(d["added"]), show
    assert {x["action"] for x in d["replaced"]} <= REPLACED_ACTIONS - {"dates-shifted", "cleaned"}

    # The lists, recomputed with pydicom from the original and the output (canon C5.1.1).
    a, b = canonical(read(f.original)), canonical(read(f.out))
    assert Counter(d["withheld"]) == Counter(set(a) - set(b)), (
        f"withheld {sorted(d['withheld'])} but only in the original: {sorted(set(a) - set(b))}")
    assert Counter(d["added"]) == Counter(set(b) - set(a)), (
        f"added {d['added']} but only in the output: {sorted(set(b) - set(a))}")
    assert set(D5_ADDED) <= set(d["added"]), d["added"]
    replaced = {x["attribute"]: x["action"] for x in d["replaced"]}
    assert len(replaced) == len(d["replaced"]), f"an attribute replaced twice: {d['replaced']}"
    both = set(a) & set(b)
    changed = {n for n in both if a[n] != b[n]}
    assert set(replaced) == changed, (
        f"replaced per JSON but equal: {sorted(set(replaced) - changed)}; changed but not "
        f"listed: {sorted(changed - set(replaced))}")
    assert d["kept"] == len(both - changed), f"kept {d['kept']}, pydicom finds {len(both - changed)}"
    for n, action in replaced.items():
        new = b[n].value
        empty = len(new) == 0 if b[n].VR == "SQ" else new in (None, "", b"")
        if action == "emptied":
            assert empty, f"{n} emptied: {new!r}"
        elif action == "uid-replaced":
            assert _UID_2_25.match(str(new)), f"{n} uid-replaced: {new!r}"
        elif action == "dummy":
            assert not empty, f"{n} dummy but empty"
        elif action == "items-deidentified":
            assert b[n].VR == "SQ" and a[n].VR == "SQ", f"{n} items-deidentified but not a sequence"
    ireport.add("De-identified by scanseal: verify",
                f"  {name:34s} INTACT; {len(d['withheld'])} withheld, {len(d['replaced'])} "
                f"replaced, {len(d['added'])} added, {d['kept']} kept; ledger #{f.seq}")


# --------------------------------------------------------- 3. UID mapping --

UID_GROUP = ("examples_rgb_color.dcm", "examples_jpeg2k.dcm", "SC_rgb_rle_2frame.dcm",
             "SC_rgb_small_odd_big_endian.dcm", "SC_rgb_small_odd_jpeg.dcm", "MR_small.dcm",
             "MR_small_RLE.dcm")
MAPPED = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")


def all_uids(path: Path) -> list[tuple[str, str]]:
    """Every UI value of the data set (all levels, in order) and the File Meta SOP UID."""
    ds = read(path)
    return [(el.keyword, str(el.value)) for el in ds.iterall() if el.VR == "UI"] + \
        [("MediaStorageSOPInstanceUID", str(ds.file_meta.MediaStorageSOPInstanceUID))]


def top_uids(path: Path) -> dict[str, str]:
    ds = read(path)
    return {kw: str(ds[kw].value) for kw in MAPPED if kw in ds}


def test_uid_mapping_consistent_and_reproducible(lab):
    # One run: the same old UID gives the same new UID in every file, different ones differ.
    forward: dict[str, set[str]] = {}
    backward: dict[str, set[str]] = {}
    for f in lab.files.values():
        a, b = read(f.original), read(f.out)
        for kw in MAPPED:
            if kw in a and a[kw].value:
                forward.setdefault(str(a[kw].value), set()).add(str(b[kw].value))
                backward.setdefault(str(b[kw].value), set()).add(str(a[kw].value))
    split = {k: v for k, v in forward.items() if len(v) > 1}
    merged = {k: v for k, v in backward.items() if len(v) > 1}
    assert not split, f"one old UID mapped to several new ones: {split}"
    assert not merged, f"several old UIDs mapped to one new one: {merged}"

    new = {n: read(lab.files[n].out) for n in UID_GROUP}
    old = {n: read(lab.files[n].original) for n in UID_GROUP}
    x, y = "examples_rgb_color.dcm", "examples_jpeg2k.dcm"
    assert old[x].StudyInstanceUID == old[y].StudyInstanceUID \
        and old[x].SOPInstanceUID != old[y].SOPInstanceUID, "corpus pair no longer shares a study"
    assert new[x].StudyInstanceUID == new[y].StudyInstanceUID, "one study, two new Study UIDs"
    assert new[x].SOPInstanceUID != new[y].SOPInstanceUID, "two instances, one new SOP UID"
    assert new["MR_small.dcm"].SOPInstanceUID == new["MR_small_RLE.dcm"].SOPInstanceUID, \
        "MR_small and MR_small_RLE share their SOP Instance UID: so must their copies"
    # References follow the referenced instance (SourceImageSequence keeps its items, U*).
    for ref, target, kw in (("SC_rgb_small_odd_jpeg.dcm", "SC_rgb_small_odd_big_endian.dcm",
                             "ReferencedSOPInstanceUID"),
                            ("SC_rgb_small_odd_big_endian.dcm", "SC_rgb_rle_2frame.dcm",
                             "SOPInstanceUID")):
        assert str(old[ref].SourceImageSequence[0][kw].value) == str(old[target].SOPInstanceUID)
        got = str(new[ref].SourceImageSequence[0][kw].value)
        assert got == str(new[target].SOPInstanceUID), (
            f"{ref}: SourceImageSequence {kw} {got} is not {target}'s new SOP Instance UID "
            f"{new[target].SOPInstanceUID}")

    sealed = [lab.files[n].sealed for n in UID_GROUP]
    first = {n: all_uids(lab.files[n].out) for n in UID_GROUP}
    runs, tops = {}, {}
    for label, secret in (("same secret", lab.secret),
                          ("other secret", secret_file(lab.root / "other-secret")),
                          ("no secret", None)):
        out = lab.root / f"rerun-{label.replace(' ', '-')}"
        done = deidentify(lab.keys, sealed, out, secret=secret, db=None)
        assert sorted(done) == sorted(UID_GROUP), sorted(done)
        runs[label] = {n: all_uids(done[n][0]) for n in UID_GROUP}
        tops[label] = {n: top_uids(done[n][0]) for n in UID_GROUP}
    for n in UID_GROUP:
        assert runs["same secret"][n] == first[n], (
            f"{n}: a second run with the same --uid-secret gave other UIDs:\n"
            f"{[(k, u, v) for (k, u), (_, v) in zip(first[n], runs['same secret'][n]) if u != v]}")
        a = top_uids(lab.files[n].out)
        for label in ("other secret", "no secret"):
            b = tops[label][n]
            for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
                assert a[kw] != b[kw], f"{n}: {kw} is the same with {label}: {a[kw]}"
    for label in ("other secret", "no secret"):
        r = tops[label]
        assert r[x]["StudyInstanceUID"] == r[y]["StudyInstanceUID"], f"{label}: study split"
        assert r[x]["SOPInstanceUID"] != r[y]["SOPInstanceUID"], f"{label}: SOP UIDs merged"
    ireport.add("De-identified by scanseal: UIDs",
                f"  {len(forward)} original UIDs -> {len(backward)} new, one to one across "
                f"{len(lab.files)} files; study shared by {x} and {y} kept shared; "
                "SourceImageSequence references follow; same secret -> same UIDs; other/no "
                "secret -> other UIDs")


# ------------------------------------------------------------- 4. edits --

def verify_one(lab: Lab, path: Path) -> dict:
    return verify_json(lab.trust, lab.db, [path])[0]


def edited(lab: Lab, name: str, label: str, edit) -> dict:
    ds = read(lab.files[name].out)
    edit(ds)
    path = lab.root / "edits" / f"{label}-{name}"
    path.parent.mkdir(exist_ok=True)
    ds.save_as(path)
    back = read(path)
    assert sc.seal_blocks(back), f"{path}: pydicom dropped the seal block"
    return verify_one(lab, path)


def attr_findings(r: dict) -> list[tuple[str, str | None, bool]]:
    return [(f["kind"], f["keyword"], f["key"]) for f in r["findings"]
            if f["kind"] in sc.ATTRIBUTE_KINDS]


def names_deid(r: dict) -> None:
    assert f"de-identified by {DEID} at " in r["reason"] and f"sealed by {ACQ} at " in r["reason"], \
        f"reason does not name the de-identifier and the acquisition seal: {r['reason']!r}"


def test_resave_alone_stays_intact(lab):
    for name in ("CT_small.dcm", "rtdose.dcm"):
        r = edited(lab, name, "resave", lambda ds: None)
        assert r["verdict"] == "INTACT", sc.show(r)


@pytest.mark.parametrize("name", ["CT_small.dcm", "rtdose.dcm"])
def test_one_pixel_changed(lab, name):
    frames = int(read(lab.files[name].out).get("NumberOfFrames", 1) or 1)

    def edit(ds):
        px = bytearray(ds.PixelData)
        width = max(ds.BitsAllocated // 8, 1)
        at = len(px) - len(px) // frames // 2
        at -= at % width
        px[at] ^= 0x01  # low byte of one sample in the last frame (little endian)
        ds.PixelData = bytes(px)

    r = edited(lab, name, "pixel", edit)
    assert r["verdict"] == "ALTERED" and r["reason"].startswith("pixels changed"), sc.show(r)
    pf = sc.pixel_findings(r)
    assert len(pf) == 1 and [x["frame"] for x in pf[0]["frames"]] == [frames], sc.show(r)
    assert not attr_findings(r), sc.show(r)
    names_deid(r)


@pytest.mark.parametrize("keyword,value", [("SliceThickness", "9.5"), ("KVP", "99")])
def test_kept_attribute_changed(lab, keyword, value):
    name = "CT_small.dcm"
    d = lab.records[name]["deidentification"]
    listed = set(d["withheld"]) | {x["attribute"] for x in d["replaced"]} | set(d["added"])
    ds = read(lab.files[name].out)
    assert keyword in ds and keyword not in listed, f"{keyword} is not a kept attribute of {name}"
    assert str(ds[keyword].value) != value
    r = edited(lab, name, keyword, lambda x: setattr(x, keyword, value))
    assert keyword in KEY_ATTRIBUTES | NOT_KEY
    key = keyword in KEY_ATTRIBUTES
    assert attr_findings(r) == [("attribute_changed", keyword, key)], sc.show(r)
    assert r["verdict"] == ("ALTERED" if key else "MODIFIED"), sc.show(r)
    assert keyword in r["reason"], r["reason"]
    names_deid(r)


@pytest.mark.parametrize("keyword,value", [("PatientAge", "042Y"), ("PatientWeight", "70")])
def test_withheld_attribute_readded(lab, keyword, value):
    name = "CT_small.dcm"
    d = lab.records[name]["deidentification"]
    assert keyword in d["withheld"], f"{keyword} not withheld from {name}: {d['withheld'][:10]}"
    r = edited(lab, name, keyword, lambda x: setattr(x, keyword, value))
    assert keyword in KEY_ATTRIBUTES | NOT_KEY
    key = keyword in KEY_ATTRIBUTES
    assert attr_findings(r) == [("attribute_added", keyword, key)], sc.show(r)
    assert r["verdict"] == ("ALTERED" if key else "MODIFIED"), sc.show(r)
    assert keyword in r["reason"], r["reason"]
    names_deid(r)


@pytest.mark.parametrize("keyword", ["PatientBirthDate", "PatientName"])
def test_emptied_attribute_given_a_value(lab, keyword):
    """PatientBirthDate and PatientName are empty in the output: a value put back is a change
    to a key attribute (the original value, for PatientName)."""
    name = "CT_small.dcm"
    ds = read(lab.files[name].out)
    assert keyword in ds and str(ds[keyword].value or "") == "", f"{keyword} not empty"
    value = str(read(lab.files[name].original).get(keyword) or "") or "19700101"
    r = edited(lab, name, keyword, lambda x: setattr(x, keyword, value))
    assert attr_findings(r) == [("attribute_changed", keyword, True)], sc.show(r)
    assert r["verdict"] == "ALTERED" and keyword in r["reason"], sc.show(r)
    names_deid(r)


# ----------------------------------------------------------- 5. transcodes --

TRANSCODES = [
    ("dcmconv +ti", "CT_small.dcm", ImplicitVRLittleEndian),
    ("dcmconv +tb", "MR_small.dcm", ExplicitVRBigEndian),
    ("dcmconv +te", "rtdose.dcm", ExplicitVRLittleEndian),
    ("dcmconv +te", "MR_small_bigendian.dcm", ExplicitVRLittleEndian),
    ("dcmconv +td", "CT_small.dcm", DeflatedExplicitVRLittleEndian),
    ("gdcmconv --raw", "MR_small_RLE.dcm", ExplicitVRLittleEndian),
    ("gdcmconv --raw", "MR_small_jpeg_ls_lossless.dcm", ExplicitVRLittleEndian),
    ("gdcmconv --raw", "MR_small_jp2klossless.dcm", ExplicitVRLittleEndian),
    ("gdcmconv --raw", "examples_jpeg2k.dcm", ExplicitVRLittleEndian),
    ("gdcmconv --implicit", "image_dfl.dcm", ImplicitVRLittleEndian),
    ("gdcmconv --raw", "SC_rgb_rle_2frame.dcm", ExplicitVRLittleEndian),
]
# GDCM rewrites the SOP Class of a multi-frame Secondary Capture image (Secondary Capture ->
# Multi-frame True Color SC) when it decompresses one: a key attribute changes.
TOOL_CHANGES = {("gdcmconv --raw", "SC_rgb_rle_2frame.dcm"): "SOPClassUID"}


@pytest.mark.parametrize("cmd,name,ts", TRANSCODES, ids=[f"{c}-{n}" for c, n, _ in TRANSCODES])
def test_transcoded_deidentified_file(lab, cmd, name, ts):
    f = lab.files[name]
    exe, *opts = cmd.split()
    out = lab.root / "transcodes" / f"{exe}{''.join(opts)}-{name}"
    out.parent.mkdir(exist_ok=True)
    pkg = "dcmtk" if exe.startswith("dcm") else "libgdcm-tools"
    run_tool([tool(exe, pkg), *opts, f.out, out], cmd)
    a, b = read(f.out), read(out)
    assert b.file_meta.TransferSyntaxUID == ts, f"{cmd} wrote {b.file_meta.TransferSyntaxUID.name}"
    assert np.array_equal(a.pixel_array, b.pixel_array), f"{cmd} changed the decoded pixels"
    kept_chain = sc.embedded_chain_bytes(out)
    assert kept_chain is not None, f"{cmd} dropped the seal block (private attributes)"
    assert kept_chain == sc.embedded_chain_bytes(f.out), f"{cmd} changed the seal chain bytes"
    r = verify_one(lab, out)
    change = TOOL_CHANGES.get((cmd, name))
    if change is None:
        assert r["verdict"] == "INTACT" and r["reason"] == lab.records[name]["reason"], sc.show(r)
        got = "INTACT"
    else:
        assert a[change].value != b[change].value, f"{cmd} no longer changes {change}"
        assert attr_findings(r) == [("attribute_changed", change, True)] \
            and r["verdict"] == "ALTERED" and not sc.pixel_findings(r), sc.show(r)
        got = f"ALTERED ({change} rewritten by the tool)"
    ireport.add("De-identified by scanseal: transcodes",
                f"  {cmd:20s} {name:32s} -> {ts.name}: chain kept, {got}")
