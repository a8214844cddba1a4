"""A sealed file de-identified by another tool is found in the ledger by its pixels.

Real corpus files (single-frame CT and MR, a multi-frame RT dose, native RGB, a two-frame RLE
RGB) are sealed with `sign --ledger`. Then a third party de-identifies each sealed file:

a. GDCM `gdcmanon -e` (PS3.15 Basic Application Level Confidentiality Profile, with a
   throwaway self-signed certificate): it replaces the UIDs, empties PatientName/PatientID and
   the like, and adds PatientIdentityRemoved = YES, but (GDCM 3.0) keeps private attributes,
   so a second `gdcmanon --dumb --remove` pass removes scanseal's (7FF1,xx) block;
b. a pydicom script: `remove_private_tags()`, new SOP/Study/Series Instance UIDs, PatientName
   and PatientID blanked.

Each output is checked with pydicom first (no seal block, other SOP and Study Instance UIDs,
no PatientName value, same transfer syntax and Pixel Data bytes as the sealed file), so the
test proves the scenario instead of assuming it. Then `verify --ledger` must say UNSIGNED,
`pixels-match` by `pixels`, naming the acquisition entry `sign` reported for that file:
"pixels match acquisition entry #N sealed by K at T; header not covered by a seal" (T = the
entry's recorded time). Negative control: the same output with one pixel sample changed
(pydicom, same transfer syntax; RLE re-encoded with pydicom's encoder) is not found.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless, generate_uid

import ireport
import seal_cli as sc
from ienv import REPO_ROOT, MissingPrerequisite, corpus_file

FILES = ["CT_small.dcm", "MR_small.dcm", "rtdose.dcm", "examples_rgb_color.dcm",
         "SC_rgb_rle_2frame.dcm"]
KEYS_EXAMPLE = REPO_ROOT / "keys-example"
ORIGIN = "interop.scanseal.example/deid-ledger"
SIGNER = "example-ct-01"

# rtdose.dcm carries an invalid UID (a leading-zero component) that pydicom warns about on save.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI:UserWarning")

_SEALED = re.compile(r"^SEALED (.+) -> (.+) \(key ([0-9a-f]{32}), ledger entry #(\d+)\)$")


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingPrerequisite(f"{name} not found on PATH: run scripts/prereqs.sh or "
                                  f"apt-get install {package}")
    return path


def run_tool(argv: list, what: str) -> None:
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (f"{what}: `{' '.join(map(str, argv))}` exit {p.returncode}\n"
                               f"stdout: {p.stdout[-1500:]}\nstderr: {p.stderr[-1500:]}")


@dataclass(frozen=True)
class Sealed:
    name: str
    path: Path
    seq: int  # the ledger entry `sign --ledger` reported


@dataclass(frozen=True)
class Lab:
    root: Path
    trust: Path
    db: Path
    key_id: str
    files: dict[str, Sealed]
    cert: Path  # gdcmanon's self-signed certificate and its RSA key
    cert_key: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    root = tmp_path_factory.mktemp("deid-thirdparty")
    keys = root / "keys"
    keys.mkdir()
    for n in (SIGNER, "example-ledger-01"):
        for ext in (".key", ".pub"):
            shutil.copyfile(KEYS_EXAMPLE / (n + ext), keys / (n + ext))
        os.chmod(keys / (n + ".key"), 0o600)
    trust = root / "trust.toml"
    sc.run(["trust", "add", "--store", trust, "--role", "acquisition", keys / f"{SIGNER}.pub"])
    sc.run(["trust", "add", "--store", trust, "--role", "ledger", keys / "example-ledger-01.pub"])
    db = root / "ledger.db"
    sc.run(["ledger", "init", "--origin", ORIGIN, db])

    src = root / "src"
    src.mkdir()
    originals = []
    for n in FILES:
        shutil.copyfile(corpus_file(n), src / n)
        originals.append(src / n)
    p = sc.run(["sign", "--key", keys / f"{SIGNER}.key", "--ledger", db, "--out", root / "sealed",
                *originals])
    files, key_ids = {}, set()
    for line in p.stdout.splitlines():
        m = _SEALED.match(line)
        assert m, f"sign --ledger line is not `SEALED src -> dst (key <id>, ledger entry #N)`: {line!r}\n{p.describe()}"
        key_ids.add(m.group(3))
        name = Path(m.group(1)).name
        files[name] = Sealed(name, Path(m.group(2)), int(m.group(4)))
    assert sorted(files) == sorted(FILES), f"sign sealed {sorted(files)} of {FILES}:\n{p.describe()}"
    assert len(key_ids) == 1 and len({f.seq for f in files.values()}) == len(FILES), p.describe()

    # The sealed files are recorded as the entries sign reported.
    recs = verify_json(trust, db, [f.path for f in files.values()])
    for f, r in zip(files.values(), recs):
        assert r["verdict"] == "INTACT" and r["ledger"]["status"] == "recorded" \
            and r["ledger"]["entry"]["seq"] == f.seq, sc.show(r)

    cert, cert_key = root / "anon-cert.pem", root / "anon-key.pem"
    run_tool([tool("openssl", "openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
              "-keyout", cert_key, "-out", cert, "-days", "2", "-subj", "/CN=scanseal interop test"],
             "throwaway certificate for gdcmanon")
    return Lab(root, trust, db, key_ids.pop(), files, cert, cert_key)


def verify_json(trust: Path, db: Path, paths: list[Path]) -> list[dict]:
    p = sc.run(["verify", "--trust", trust, "--ledger", db, "--json", *paths], ok=(0, 1))
    recs, summary = sc.read_verify_output(p)
    assert [r["path"] for r in recs] == [str(x) for x in paths], p.describe()
    assert summary["exit_status"] == p.returncode, p.describe()
    return recs


def verify_text(trust: Path, db: Path, paths: list[Path]) -> list[tuple[str, str]]:
    """`verify --ledger` text lines `VERDICT PATH: reason`, as (verdict, reason) per path."""
    p = sc.run(["verify", "--trust", trust, "--ledger", db, *paths], ok=(0, 1))
    lines = [x for x in p.stdout.splitlines() if not x.startswith("SUMMARY ")]
    assert len(lines) == len(paths), p.describe()
    out = []
    for path, line in zip(paths, lines):
        verdict, _, rest = line.partition(" ")
        head = f"{path}: "
        assert rest.startswith(head), f"expected `VERDICT {path}: reason`, got {line!r}"
        out.append((verdict, rest[len(head):]))
    return out


# ----------------------------------------------------------- de-identifiers --

def gdcmanon(lab: Lab, sealed: Path, out_dir: Path) -> tuple[Path, bool]:
    """Basic profile with gdcmanon, then the seal block removed with gdcmanon's dumb mode
    (GDCM 3.0's basic profile keeps private attributes). Returns the output and whether the
    basic profile had kept the seal block."""
    exe = tool("gdcmanon", "libgdcm-tools")
    out_dir.mkdir(parents=True, exist_ok=True)
    profiled, out = out_dir / "basic-profile.dcm", out_dir / "gdcmanon.dcm"
    run_tool([exe, "-e", "-k", lab.cert_key, "-c", lab.cert, "-i", sealed, "-o", profiled],
             "gdcmanon basic profile")
    ds = pydicom.dcmread(profiled)  # the block follows the Pixel Data
    blocks = sc.seal_blocks(ds)
    argv: list = [exe, "--dumb"]
    for bb in blocks:  # the block's elements, named by creator and offset, then the creator
        for t in ds.keys():
            if t.group == sc.SEAL_GROUP and t.element >> 8 == bb:
                argv += ["--remove", f"7ff1,{t.element & 0xFF:02x},{sc.SCANSEAL_CREATOR}"]
        argv += ["--remove", f"7ff1,{bb:04x}"]
    if blocks:
        run_tool(argv + ["-i", profiled, "-o", out], "gdcmanon --dumb --remove (seal block)")
    else:
        shutil.copyfile(profiled, out)
    return out, bool(blocks)


def pydicom_script(sealed: Path, out: Path) -> Path:
    ds = pydicom.dcmread(sealed)
    ds.remove_private_tags()
    for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        setattr(ds, kw, generate_uid())
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = ""
    ds.PatientID = ""
    ds.save_as(out)
    return out


def change_one_pixel(src: Path, dst: Path) -> Path:
    """One sample of the last frame changed in its least significant bit, the transfer syntax
    kept; checked with pydicom to differ in exactly that sample."""
    ds = pydicom.dcmread(src)
    before = ds.pixel_array.copy()
    ts = ds.file_meta.TransferSyntaxUID
    if ts.is_compressed:
        assert ts == RLELossless, f"{src}: change_one_pixel handles native and RLE only, not {ts.name}"
        arr = before.copy()
        flat = arr.reshape(-1)
        flat[flat.size - flat.size // max(int(ds.get("NumberOfFrames", 1) or 1), 1) // 2] ^= 1
        ds.compress(RLELossless, arr, encoding_plugin="pydicom", generate_instance_uid=False)
    else:
        px = bytearray(ds.PixelData)
        width = max(ds.BitsAllocated // 8, 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        at = len(px) - len(px) // frames // 2
        at -= at % width  # the first (least significant, little endian) byte of a sample
        px[at] ^= 0x01
        ds.PixelData = bytes(px)
    ds.save_as(dst)
    after = pydicom.dcmread(dst)
    assert after.file_meta.TransferSyntaxUID == ts, f"{dst}: transfer syntax changed"
    changed = int(np.count_nonzero(after.pixel_array != before))
    assert changed == 1, f"{dst}: {changed} samples differ from {src}, expected 1"
    return dst


# ----------------------------------------------------------------- checks --

def assert_deidentified(sealed: Path, out: Path, tool_name: str) -> None:
    """The scenario, proved with pydicom: no seal block, other UIDs, no patient name, and the
    transfer syntax and Pixel Data bytes of the sealed file."""
    a, b = pydicom.dcmread(sealed), pydicom.dcmread(out)
    assert sc.seal_blocks(a), f"{sealed}: the sealed file has no seal block"
    left = [str(t) for t in b.keys() if t.group == sc.SEAL_GROUP]
    assert not left and sc.embedded_chain_bytes(out) is None, \
        f"{tool_name} output still has (7FF1,xxxx) elements {left}"
    for kw in ("SOPInstanceUID", "StudyInstanceUID"):
        assert b.get(kw) and b.get(kw) != a.get(kw), f"{tool_name}: {kw} not replaced ({b.get(kw)!r})"
    before = str(a.get("PatientName", "") or "")
    assert before, f"{sealed}: test file has no PatientName to remove"
    assert str(b.get("PatientName", "") or "") == "", \
        f"{tool_name}: PatientName still has a value ({b.get('PatientName')!r})"
    # Reported, not hidden: a de-identifier must leave the pixels alone.
    assert b.file_meta.TransferSyntaxUID == a.file_meta.TransferSyntaxUID, (
        f"{tool_name} changed the transfer syntax {a.file_meta.TransferSyntaxUID.name} -> "
        f"{b.file_meta.TransferSyntaxUID.name}")
    assert b.PixelData == a.PixelData, f"{tool_name} changed the Pixel Data bytes"


def check_found(lab: Lab, item: Sealed, out: Path, changed: Path) -> None:
    (r, rc), (text, text_c) = verify_json(lab.trust, lab.db, [out, changed]), \
        verify_text(lab.trust, lab.db, [out, changed])
    lg = r["ledger"]
    assert r["verdict"] == "UNSIGNED" and lg["status"] == "pixels-match" \
        and lg["matched_by"] == "pixels", sc.show(r)
    entry = lg["entry"]
    assert entry["seq"] == item.seq and entry["kind"] == "acquired" \
        and entry["signer"]["key_id"] == lab.key_id and entry["signer"]["name"] == SIGNER, (
        f"expected acquisition entry #{item.seq} by {SIGNER}:\n{sc.show(r)}")
    want = (f"pixels match acquisition entry #{item.seq} sealed by {SIGNER} ({lab.key_id}) "
            f"at {entry['recorded']}; header not covered by a seal")
    for verdict, reason in (("UNSIGNED", r["reason"]), text):
        assert verdict == "UNSIGNED" and want in reason, f"reason {reason!r} lacks {want!r}"
        assert f"pixels match acquisition entry #{item.seq} sealed by" in reason \
            and "; header not covered by a seal" in reason, reason
    assert text[1] == r["reason"], f"text reason {text[1]!r} != JSON reason {r['reason']!r}"

    # Negative control: one pixel changed.
    lg = rc["ledger"]
    assert rc["verdict"] == "UNSIGNED" and lg["status"] == "not-found" \
        and lg["status"] != "pixels-match" and lg.get("entry") is None, sc.show(rc)
    for reason in (rc["reason"], text_c[1]):
        assert "pixels match" not in reason and "entry #" not in reason, reason
    assert text_c[0] == "UNSIGNED", text_c


@pytest.mark.parametrize("name", FILES)
def test_gdcmanon_basic_profile(lab, name):
    item = lab.files[name]
    work = lab.root / "gdcmanon" / name
    out, kept = gdcmanon(lab, item.path, work)
    assert_deidentified(item.path, out, "gdcmanon")
    profiled = pydicom.dcmread(work / "basic-profile.dcm", stop_before_pixels=True)
    assert profiled.get("PatientIdentityRemoved") == "YES", \
        "gdcmanon -e did not mark PatientIdentityRemoved = YES (basic profile not applied?)"
    changed = change_one_pixel(out, work / "gdcmanon-pixel.dcm")
    check_found(lab, item, out, changed)
    ireport.add("De-identified by third parties (verify --ledger)",
                f"  gdcmanon  {name}: pixels match acquisition entry #{item.seq}; one pixel changed: "
                f"not found (basic profile {'kept' if kept else 'removed'} the seal block)")


@pytest.mark.parametrize("name", FILES)
def test_pydicom_script(lab, name):
    item = lab.files[name]
    work = lab.root / "pydicom" / name
    work.mkdir(parents=True)
    out = pydicom_script(item.path, work / "pydicom.dcm")
    assert_deidentified(item.path, out, "pydicom script")
    changed = change_one_pixel(out, work / "pydicom-pixel.dcm")
    check_found(lab, item, out, changed)
    ireport.add("De-identified by third parties (verify --ledger)",
                f"  pydicom   {name}: pixels match acquisition entry #{item.seq}; one pixel changed: not found")
