"""The ledger (spec/ledger.md), checked with an independent Python verifier (ledger_ref.py).

1. Independent verification: real corpus files are sealed with `sign --ledger` (two batches
   with a checkpoint between, plus one `--append` countersignature); every entry is proved
   (`ledger prove --seq` and `--file`) and every proof is verified in Python: checkpoint
   signature with the ledger key's .pub, inclusion (RFC 9162 §2.1.3.2), the proof's hashes
   equal to PATH(m, D[n]) computed from all entries, strict entry CBOR; the entry fields equal
   what the seal in the file says (kind/predecessor = manifest action/predecessor, signer = the
   envelope kid = SHA-256(SPKI)[:16] of the .pub, envelope = SHA-256 of the envelope bytes read
   with pydicom, pixels = the manifest's and `scanseal digest` of the original, instance =
   the hash of the SOP Instance UID read with pydicom). `verify-proof` accepts them and reports
   the same fields; one flipped bit in a hash line, the extra line, the index or the checkpoint
   makes it (and the Python verifier) reject the proof; so does a trust store without the ledger
   key, or with it in another role.
2. Consistency: the roots of the checkpoints before and after the second batch equal the MTH
   computed in Python from the proofs' entries; PROOF(m, D[n]) verifies between them;
   `ledger verify --checkpoint old --trust` is INTACT with that checkpoint consistent.
3. Tampering with the sqlite3 shell: the triggers refuse UPDATE/DELETE; with triggers dropped,
   a changed row names its entry; deleted tail entries are caught by an exported checkpoint
   (rollback, naming the first missing entry) and, when the nodes are left, by the stored
   nodes; a rebuilt ledger with the same origin (different order, one altered file), or rows
   changed with every node recomputed in Python and the stored checkpoints dropped, pass the
   internal checks but not an exported checkpoint; an edited checkpoint fails its signature;
   a file that is not a ledger / a newer schema cannot be verified (exit 2).
4. Seal stripped: `verify --ledger` on a sealed file names its entry; a file whose seal was
   removed (pydicom) is UNSIGNED + pixels-match (by instance, or by pixels when the UID was
   replaced too), ALTERED + pixels-differ ("seal removed: ledger entry #N ...") when a pixel
   changed, single- and multi-frame; a seal made without --ledger is reported not recorded.
5. No PHI: no patient/study string of the sealed files occurs in the database files, proofs
   or checkpoints.
6. spec/vectors/ledger: every field recomputed with ledger_ref.py (encoding, instance keys,
   leaf hashes, roots, inclusion and consistency proofs, checkpoint signature byte for byte
   with the RFC 8032 TEST 1 key, verifier key, the proof file), and `verify-proof` accepts the
   proof file with that key trusted.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import cbor2
import pydicom
import pytest
from pydicom.uid import generate_uid

import ireport
import ledger_ref as L
import seal_cli as sc
from ienv import REPO_ROOT, corpus_file

ORIGIN = "interop.scanseal.example/ledger"
KEYS_EXAMPLE = REPO_ROOT / "keys-example"
VECTORS = REPO_ROOT / "spec" / "vectors" / "ledger"

# Sealed in two batches (a checkpoint between them). Single- and multi-frame, native
# (LE/BE/implicit), RLE, JPEG-LS (lossless -> decoded-samples, near-lossless ->
# encoded-frames), JPEG 2000, JPEG, palette, and files without pixels (pixels null). The MR
# and SC_rgb_rle variants share SOP Instance UIDs, as transcodes of one instance do.
BATCH1 = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtdose.dcm", "JPEG2000.dcm",
          "SC_rgb_rle_2frame.dcm"]
BATCH2 = ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm",
          "JPEGLSNearLossless_16.dcm", "JPGExtended.dcm", "SC_rgb_rle.dcm",
          "examples_ybr_color.dcm", "liver_1frame.dcm", "examples_palette.dcm", "test-SR.dcm",
          "ExplVR_BigEnd.dcm"]
COUNTERSIGNED = "JPEG2000.dcm"  # gets a second seal (--append, another key): a countersigned entry
PHI_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID",
                "SeriesInstanceUID", "SOPInstanceUID", "InstitutionName", "ReferringPhysicianName",
                "AccessionNumber", "StudyDate")

LEDGER_VERIFY_KEYS = ("verdict", "path", "origin", "size", "root", "checkpoints_verified",
                      "external_consistent", "signatures_checked_against", "problems", "notes",
                      "first_bad_seq")
PROOF_KEYS = ("path", "verdict", "reason")
PROOF_ENTRY_KEYS = ("seq", "kind", "recorded", "signer", "signer_name", "signer_trust",
                    "envelope_sha256", "pixel_digest", "pixel_mode", "instance_key")
PROOF_CHECKPOINT_KEYS = ("origin", "size", "root", "ledger_key")
LEDGER_STATUS = ("recorded", "not-recorded", "pixels-match", "pixels-differ", "not-found")
APPEND_ONLY = "append-only"

_SEALED = re.compile(r"^SEALED (.+) -> (.+) \(key ([0-9a-f]{32}), (?:seal \d+ of the chain, )?"
                     r"ledger entry #(\d+)\)$")
_VERIFIER_KEY = re.compile(r"verifier key (\S+\+[0-9a-f]{8}\+\S+)")


# ------------------------------------------------------------- helpers --

@dataclass(frozen=True)
class Keys:
    ct_key: Path
    ct_pub: Path
    cs_key: Path  # a second acquisition key (keygen), for the countersignature
    cs_pub: Path
    ledger_key: Path
    ledger_pub: Path
    ct_kid: bytes
    cs_kid: bytes
    ledger_kid: bytes
    ledger_raw: bytes  # 32-byte Ed25519 public key of the ledger key
    trust: Path  # example-ct-01 and countersigner: acquisition; example-ledger-01: ledger


def make_keys(d: Path) -> Keys:
    d.mkdir(parents=True, exist_ok=True)
    for n in ("example-ct-01", "example-ledger-01"):
        for ext in (".key", ".pub"):
            shutil.copyfile(KEYS_EXAMPLE / (n + ext), d / (n + ext))
        os.chmod(d / (n + ".key"), 0o600)
    sc.run(["keygen", "--out", d, "--name", "countersigner"])
    trust = d / "trust.toml"
    for n, role in (("example-ct-01", "acquisition"), ("countersigner", "acquisition"),
                    ("example-ledger-01", "ledger")):
        sc.run(["trust", "add", "--store", trust, "--role", role, d / (n + ".pub")])
    pem = {n: (d / (n + ".pub")).read_bytes() for n in ("example-ct-01", "countersigner",
                                                         "example-ledger-01")}
    return Keys(d / "example-ct-01.key", d / "example-ct-01.pub",
                d / "countersigner.key", d / "countersigner.pub",
                d / "example-ledger-01.key", d / "example-ledger-01.pub",
                L.key_id_from_pem(pem["example-ct-01"]), L.key_id_from_pem(pem["countersigner"]),
                L.key_id_from_pem(pem["example-ledger-01"]),
                L.public_key_from_pem(pem["example-ledger-01"]), trust)


def ledger_init(db: Path, origin: str | None = ORIGIN) -> str:
    args = ["ledger", "init"] + (["--origin", origin] if origin else []) + [db]
    p = sc.run(args)
    m = re.fullmatch(rf"CREATED {re.escape(str(db))} \(origin (\S+)\)", p.stdout.strip())
    assert m, f"ledger init output must be `CREATED DB (origin X)`:\n{p.describe()}"
    if origin:
        assert m.group(1) == origin, p.describe()
    assert db.is_file(), f"ledger init did not create {db}"
    return m.group(1)


def sign_ledger(key: Path, kid: bytes, db: Path, paths: list[Path], *, out: Path | None = None,
                in_place: bool = False, append: bool = False) -> dict[str, tuple[Path, int]]:
    """`sign --ledger`; every file must be sealed: {src as given: (dst, entry seq)}."""
    args: list = ["sign", "--key", key, "--ledger", db]
    args += ["--out", out] if out else []
    args += ["--in-place"] if in_place else []
    args += ["--append"] if append else []
    p = sc.run(args + paths)
    res = {}
    for line in p.stdout.splitlines():
        m = _SEALED.match(line)
        assert m, f"sign --ledger line is not `SEALED src -> dst (key <id>, ledger entry #N)`: {line!r}\n{p.describe()}"
        assert m.group(3) == kid.hex(), f"sign reports key {m.group(3)}, expected {kid.hex()}"
        res[m.group(1)] = (Path(m.group(2)), int(m.group(4)))
    assert set(res) == {str(x) for x in paths}, f"sign sealed {sorted(res)} of {paths}:\n{p.describe()}"
    return res


def checkpoint(keys: Keys, db: Path, out: Path | None = None, origin: str = ORIGIN) -> bytes:
    args: list = ["ledger", "checkpoint", "--key", keys.ledger_key]
    args += ["--out", out] if out else []
    p = sc.run(args + [db])
    note = p.stdout.encode()
    if out:
        assert out.read_bytes() == note, f"checkpoint --out {out} differs from what was printed"
    m = _VERIFIER_KEY.search(p.stderr)
    assert m, f"ledger checkpoint: stderr lacks `verifier key <origin>+<8hex>+<base64>`:\n{p.describe()}"
    want = L.verifier_key(origin, keys.ledger_raw)
    assert m.group(1) == want, f"verifier key {m.group(1)} != {want} (C3)"
    return note


def prove(db: Path, *, seq: int | None = None, file: Path | None = None, out: Path,
          key: Path | None = None) -> bytes:
    args: list = ["ledger", "prove", db]
    args += ["--seq", str(seq)] if seq is not None else ["--file", file]
    args += ["--key", key] if key else []
    sc.run(args + ["--out", out])
    return out.read_bytes()


def verify_proofs(trust: Path, proofs: list[Path]) -> list[dict]:
    """`verify-proof --json`: one record per proof in order; exit 0 iff all VERIFIED."""
    p = sc.run(["verify-proof", "--trust", trust, "--json", *proofs], ok=(0, 1))
    recs = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    assert len(recs) == len(proofs), f"{len(recs)} records for {len(proofs)} proofs:\n{p.describe()}"
    for pr, r in zip(proofs, recs):
        missing = [k for k in PROOF_KEYS if k not in r]
        assert not missing, f"verify-proof record lacks {missing}: {r}"
        assert r["path"] == str(pr), f"records must follow input order: {r['path']} vs {pr}"
        assert r["verdict"] in ("VERIFIED", "INVALID"), r
        if r["verdict"] == "VERIFIED":
            assert all(k in r.get("entry", {}) for k in PROOF_ENTRY_KEYS) and all(
                k in r.get("checkpoint", {}) for k in PROOF_CHECKPOINT_KEYS), f"verify-proof JSON: {r}"
    want = 0 if all(r["verdict"] == "VERIFIED" for r in recs) else 1
    assert p.returncode == want, f"verify-proof exit {p.returncode}, expected {want}:\n{p.describe()}"
    return recs


def ledger_verify(db: Path, *, trust: Path | None = None, checkpoints: tuple = (),
                  ok=(0, 1)) -> tuple[sc.Proc, dict, sc.Proc]:
    """`ledger verify` in text and --json form; both checked against the contract."""
    args: list = ["ledger", "verify", db]
    args += ["--trust", trust] if trust else []
    for c in checkpoints:
        args += ["--checkpoint", c]
    text = sc.run(args, ok=ok)
    pj = sc.run(args + ["--json"], ok=ok)
    assert text.returncode == pj.returncode, f"text and --json exit differently:\n{text.describe()}\n{pj.describe()}"
    if text.returncode == 2:
        return text, {}, pj
    rec = json.loads(pj.stdout)
    missing = [k for k in LEDGER_VERIFY_KEYS if k not in rec]
    assert not missing, f"ledger verify --json lacks {missing}: {pj.stdout[:1500]}"
    assert rec["verdict"] == ("INTACT" if text.returncode == 0 else "ALTERED"), pj.describe()
    lines = text.stdout.splitlines()
    assert lines, text.describe()
    first = lines[0]
    if rec["verdict"] == "INTACT":
        assert first.startswith(f"INTACT {db}: "), f"first line {first!r}"
        assert rec["problems"] == [] and rec["first_bad_seq"] is None, pj.stdout
    else:
        want_first = rf"ALTERED {re.escape(str(db))}: " + (
            rf"first bad entry #{rec['first_bad_seq']}: " if rec["first_bad_seq"] is not None else "")
        assert re.match(want_first + "[^ ]", first) and rec["problems"][0]["message"] in first, \
            f"ALTERED line must be `ALTERED DB: [first bad entry #N: ]<first problem>`, got {first!r}"
        assert rec["problems"], pj.stdout
        for pr in rec["problems"]:
            assert set(pr) >= {"kind", "first_bad_seq", "message"}, pr
        for extra in lines[1:]:
            assert extra.startswith(("  also: ", "  note: ")), f"unexpected line {extra!r}"
        m = re.match(r"ALTERED .*?: first bad entry #(\d+): ", first)
        if m:
            assert rec["first_bad_seq"] == int(m.group(1)), (first, pj.stdout)
    return text, rec, pj


def verify_ledger(trust: Path, db: Path, paths: list[Path]) -> list[dict]:
    """`verify --ledger --json`, records checked like seal_cli.verify plus the `ledger` object."""
    p = sc.run(["verify", "--trust", trust, "--ledger", db, "--json", *paths], ok=(0, 1))
    recs, summary = sc.read_verify_output(p)
    assert len(recs) == len(paths), p.describe()
    assert summary["exit_status"] == p.returncode, p.describe()
    for path, r in zip(paths, recs):
        missing = [k for k in sc.VERIFY_KEYS + ("ledger",) if k not in r]
        assert not missing, f"verify --ledger record lacks {missing}: {sc.show(r)}"
        assert r["path"] == str(path)
        assert r["ledger"]["status"] in LEDGER_STATUS, sc.show(r)
    want = 0 if all(r["verdict"] in sc.PASSING for r in recs) else 1
    assert p.returncode == want, p.describe()
    return recs


def sqlite(db: Path, sql: str, ok: bool = True) -> subprocess.CompletedProcess:
    exe = shutil.which("sqlite3")
    if exe is None:
        raise sc.CliFailure("sqlite3 not found on PATH: run scripts/prereqs.sh or apt-get install sqlite3")
    p = subprocess.run([exe, "-bail", str(db)], input=sql, capture_output=True, text=True, timeout=60)
    if ok:
        assert p.returncode == 0, f"sqlite3 {db} failed on {sql!r}: {p.stderr}"
    return p


def copy_db(src: Path, dst: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        s = Path(str(src) + suffix)
        if s.exists():
            shutil.copyfile(s, Path(str(dst) + suffix))
    return dst


def envelope_of(path: Path) -> bytes:
    """The newest seal's envelope bytes, read from the file with pydicom + cbor2."""
    raw = sc.embedded_chain_bytes(path)
    assert raw is not None, f"{path}: no SCANSEAL block"
    return sc.chain_records(raw, str(path))[-1]["envelope"]


def manifest_of(envelope: bytes) -> tuple[bytes, dict]:
    """(kid from the protected header, manifest) of a COSE_Sign1 envelope."""
    tagged = cbor2.loads(envelope)
    assert isinstance(tagged, cbor2.CBORTag) and tagged.tag == 18
    prot, _, payload, _ = tagged.value
    return cbor2.loads(prot)[4], cbor2.loads(payload)


def digest_json(paths: list[Path]) -> dict[Path, dict]:
    p = sc.run(["digest", "--json", *paths])
    recs = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    assert len(recs) == len(paths), p.describe()
    return dict(zip(paths, recs))


def sop_uid(path: Path) -> str:
    ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    return str(ds.SOPInstanceUID)


def strip_seal(src: Path, dst: Path, *, pixel_change: bool = False, new_uid: bool = False) -> Path:
    """Remove the SCANSEAL block with pydicom; optionally change one pixel (a byte of the
    native Pixel Data in the middle of the last frame) and/or the SOP Instance UID."""
    ds = pydicom.dcmread(str(src))
    blocks = sc.seal_blocks(ds)
    assert blocks, f"{src}: no SCANSEAL block to strip"
    for bb in blocks:
        for tag in [t for t in ds.keys() if t.group == sc.SEAL_GROUP
                    and (t.element == bb or t.element >> 8 == bb)]:
            del ds[tag]
    if pixel_change:
        assert not ds.file_meta.TransferSyntaxUID.is_compressed, f"{src}: change pixels of native files only"
        px = bytearray(ds.PixelData)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        at = len(px) - len(px) // frames // 2
        px[at] ^= 0x01
        ds.PixelData = bytes(px)
    if new_uid:
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.save_as(str(dst))
    assert sc.embedded_chain_bytes(dst) is None, f"{dst}: seal still present after stripping"
    return dst


def flip(b: bytes, i: int, bit: int = 0) -> bytes:
    x = bytearray(b)
    x[i % len(x)] ^= 1 << (bit % 8)
    return bytes(x)


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def parse_time(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


# ------------------------------------------------------------- fixture --

@dataclass
class Item:
    name: str
    original: Path
    sealed: Path
    seq: int
    envelope: bytes
    digest: dict
    uid: str


@dataclass
class World:
    root: Path
    keys: Keys
    db: Path
    items: dict[str, Item]
    countersigned: Item  # the file with two seals; seq = the countersigned entry
    first_envelope: bytes  # the countersigned file's first seal
    k_old: int  # size of the checkpoint between the batches
    cp_old: Path
    cp_new: Path
    size: int
    proofs: dict[int, Path] = field(default_factory=dict)
    extras: list[bytes] = field(default_factory=list)  # ENTRY by seq, from the proofs
    t0: datetime = None
    t1: datetime = None

    def leaves(self) -> list[bytes]:
        return [L.leaf_hash(e) for e in self.extras]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("ledger-keys"))


@pytest.fixture(scope="module")
def world(keys, tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("ledger")
    src = root / "src"
    src.mkdir()
    originals = {}
    for n in BATCH1 + BATCH2:
        originals[n] = src / n
        shutil.copyfile(corpus_file(n), originals[n])
    digests = digest_json(list(originals.values()))
    for n, p in originals.items():
        assert "error" not in digests[p], f"scanseal digest refuses {n}: {digests[p]}"

    db = root / "ledger.db"
    t0 = utc_now()
    ledger_init(db)
    sealed_dir = root / "sealed"
    got = sign_ledger(keys.ct_key, keys.ct_kid, db, [originals[n] for n in BATCH1], out=sealed_dir)
    k_old = len(BATCH1)
    cp_old = root / "checkpoint-old.txt"
    checkpoint(keys, db, cp_old)
    got.update(sign_ledger(keys.ct_key, keys.ct_kid, db, [originals[n] for n in BATCH2],
                           out=sealed_dir))
    seqs = sorted(s for _, s in got.values())
    assert seqs == list(range(len(originals))), f"entry numbers {seqs}: L5 requires 0, 1, 2, ... without gaps"
    batch1_seqs = {got[str(originals[n])][1] for n in BATCH1}
    assert batch1_seqs == set(range(k_old)), f"the first batch got entries {sorted(batch1_seqs)}"

    items = {}
    for n, p in originals.items():
        dst, seq = got[str(p)]
        assert dst.resolve() == (sealed_dir / n).resolve(), f"{n} sealed to {dst}"
        items[n] = Item(n, p, sealed_dir / n, seq, envelope_of(sealed_dir / n), digests[p], sop_uid(p))

    # A countersignature (`--append`, another key) on a copy of one sealed file.
    cs_dir = root / "countersigned"
    cs_dir.mkdir()
    cs_path = cs_dir / COUNTERSIGNED
    shutil.copyfile(items[COUNTERSIGNED].sealed, cs_path)
    (dst, cs_seq), = sign_ledger(keys.cs_key, keys.cs_kid, db, [cs_path], in_place=True,
                                 append=True).values()
    assert cs_seq == len(originals), f"countersignature recorded as #{cs_seq}, expected #{len(originals)}"
    base = items[COUNTERSIGNED]
    cs = Item(COUNTERSIGNED + " (countersigned)", base.original, cs_path, cs_seq,
              envelope_of(cs_path), base.digest, base.uid)
    t1 = utc_now()
    cp_new = root / "checkpoint-new.txt"
    checkpoint(keys, db, cp_new)
    size = cs_seq + 1

    w = World(root, keys, db, items, cs, base.envelope, k_old, cp_old, cp_new, size,
              t0=t0, t1=t1)
    pdir = root / "proofs"
    pdir.mkdir()
    for seq in range(size):
        w.proofs[seq] = pdir / f"seq-{seq}.tlog-proof"
        prove(db, seq=seq, out=w.proofs[seq])
        w.extras.append(L.parse_proof(w.proofs[seq].read_bytes()).extra)
    return w


def _all_items(world: World) -> list[Item]:
    return [*world.items.values(), world.countersigned]


# ------------------------------------------------- 1. independent proofs --

def test_init_refuses_existing_and_default_origin(tmp_path):
    db = tmp_path / "default.db"
    origin = ledger_init(db, origin=None)
    assert re.fullmatch(r"scanseal\.local/ledger/[0-9a-f]{16}", origin), (
        f"default origin {origin!r} is not scanseal.local/ledger/<16 hex> (C1)")
    before = db.read_bytes()
    p = sc.run(["ledger", "init", "--origin", ORIGIN, db], ok=(2,))
    assert "CREATED" not in p.stdout, p.describe()
    assert db.read_bytes() == before, "a refused `ledger init` changed the existing ledger"
    other = tmp_path / "not-a-ledger.txt"
    other.write_text("keep me\n")
    sc.run(["ledger", "init", other], ok=(2,))
    assert other.read_text() == "keep me\n", "ledger init overwrote an existing file"
    info = sc.run(["ledger", "info", db]).stdout
    assert re.search(rf"^origin\s+{re.escape(origin)}$", info, re.M), info
    assert re.search(r"^entries\s+0$", info, re.M), info
    assert re.search(rf"^root\s+{L.H(b'').hex()}$", info, re.M), f"empty tree root must be H(''):\n{info}"


def test_entries_match_the_seals(world):
    """Every proof verifies in Python; the entry says what the seal in the file says."""
    keys = world.keys
    leaves = world.leaves()
    root = L.mth_of_leaf_hashes(leaves)
    cp = L.verify_checkpoint(world.cp_new.read_bytes(), keys.ledger_raw, ORIGIN)
    assert cp.size == world.size and cp.root == root, (
        f"newest checkpoint (size {cp.size}, root {cp.root.hex()}) != MTH of the {world.size} "
        f"entries computed in Python ({root.hex()})")
    bad = []
    by_seq = {it.seq: it for it in _all_items(world)}
    for seq, proof_path in world.proofs.items():
        it = by_seq[seq]
        what = f"entry #{seq} ({it.name})"
        try:
            v = L.verify_proof(proof_path.read_bytes(), keys.ledger_raw, ORIGIN)
            e = v.entry
            assert v.proof.index == seq and e["seq"] == seq, f"{what}: index/seq {v.proof.index}/{e['seq']}"
            assert v.checkpoint.size == world.size, f"{what}: proved under size {v.checkpoint.size}"
            assert v.proof.path == L.inclusion_path(seq, leaves), (
                f"{what}: the proof's hashes are not PATH({seq}, D[{world.size}]) (RFC 9162 §2.1.3.1)")
            assert v.proof.checkpoint_bytes == world.cp_new.read_bytes(), (
                f"{what}: the proof does not carry the newest checkpoint verbatim")
            kid, manifest = manifest_of(it.envelope)
            want_kind = manifest["action"]
            assert e["kind"] == want_kind, f"{what}: kind {e['kind']} vs manifest action {want_kind} (L1)"
            assert e["predecessor"] == manifest["predecessor"], f"{what}: predecessor (L1)"
            assert e["signer"] == kid, f"{what}: signer {e['signer'].hex()} != envelope kid {kid.hex()} (L3)"
            assert e["envelope"] == L.H(it.envelope), f"{what}: envelope digest (L3)"
            assert e["instance"] == L.instance_key(it.uid), f"{what}: instance key of {it.uid} (§3.2)"
            dg = it.digest
            mp = manifest["pixels"]
            if dg["pixel_mode"] == "none":
                assert e["pixels"] is None and mp is None, f"{what}: pixels {e['pixels']} for a file without pixels (L2)"
            else:
                assert e["pixels"] == {"mode": mp["mode"], "digest": mp["digest"],
                                       "tile_size": mp["tile_size"]}, f"{what}: pixels vs manifest (L2)"
                assert e["pixels"]["mode"] == dg["pixel_mode"] and \
                    e["pixels"]["digest"].hex() == dg["pixel_digest"], (
                    f"{what}: pixels {e['pixels']} vs scanseal digest {dg['pixel_mode']} {dg['pixel_digest']}")
            rec = parse_time(e["recorded"])
            assert world.t0 <= rec <= world.t1, f"{what}: recorded {e['recorded']} outside the run {world.t0}..{world.t1}"
        except (AssertionError, L.RefError) as ex:
            bad.append(f"{what}: {ex}")
    assert not bad, "\n".join(bad)

    # the countersignature: a second seal on the same instance, chained to the first
    e = L.decode_entry(world.extras[world.countersigned.seq])
    assert e["kind"] == "countersigned" and e["predecessor"] == L.H(world.first_envelope) \
        and e["signer"] == keys.cs_kid, f"countersigned entry {e}"
    assert {it.seq for it in world.items.values()} | {world.countersigned.seq} == set(range(world.size))
    # acquisition entries are signed by example-ct-01 (its key id = SHA-256(SPKI DER)[:16])
    for it in world.items.values():
        assert L.decode_entry(world.extras[it.seq])["signer"] == keys.ct_kid

    ireport.add("Ledger: independent verification (ledger_ref.py)",
                f"  {world.size} entries ({len(world.items)} corpus files + 1 countersignature), "
                f"{len(world.proofs)} proofs verified in Python; root {root.hex()}")


def test_prove_by_file(world):
    """`prove --file` on the sealed file names the same entry as `--seq` (the newest seal)."""
    pdir = world.root / "file-proofs"
    pdir.mkdir()
    bad, outs = [], []
    for it in _all_items(world):
        out = pdir / (it.name.replace(" ", "_") + ".tlog-proof")
        v = L.verify_proof(prove(world.db, file=it.sealed, out=out), world.keys.ledger_raw, ORIGIN)
        outs.append(out)
        if v.encoded != world.extras[it.seq]:
            bad.append(f"prove --file {it.sealed}: entry #{v.entry['seq']}, expected #{it.seq}")
    assert not bad, "\n".join(bad)
    recs = verify_proofs(world.keys.trust, outs)
    assert [r["entry"]["seq"] for r in recs] == [it.seq for it in _all_items(world)]


def test_verify_proof_accepts_and_reports(world):
    keys = world.keys
    paths = [world.proofs[s] for s in range(world.size)]
    recs = verify_proofs(keys.trust, paths)
    names = {keys.ct_kid: "example-ct-01", keys.cs_kid: "countersigner"}
    root = L.mth_of_leaf_hashes(world.leaves())
    bad = []
    for seq, r in enumerate(recs):
        e = L.decode_entry(world.extras[seq])
        want = {"seq": seq, "kind": e["kind"], "recorded": e["recorded"], "signer": e["signer"].hex(),
                "signer_name": names[e["signer"]], "signer_trust": "trusted",
                "envelope_sha256": e["envelope"].hex(),
                "pixel_digest": e["pixels"]["digest"].hex() if e["pixels"] else None,
                "pixel_mode": e["pixels"]["mode"] if e["pixels"] else None,
                "instance_key": e["instance"].hex()}
        got = {k: r["entry"].get(k) for k in want}
        if r["verdict"] != "VERIFIED" or got != want:
            bad.append(f"#{seq}: {r['verdict']} {got} != {want}")
        cpw = {"origin": ORIGIN, "size": world.size, "root": root.hex(), "ledger_key": keys.ledger_kid.hex()}
        if r.get("checkpoint") != cpw:
            bad.append(f"#{seq}: checkpoint {r.get('checkpoint')} != {cpw}")
    assert not bad, "\n".join(bad)
    # text form
    p = sc.run(["verify-proof", "--trust", keys.trust, *paths[:3]])
    lines = p.stdout.splitlines()
    assert len(lines) == 3 and all(ln.startswith(f"VERIFIED {q}: ") for ln, q in zip(lines, paths[:3])), p.describe()


def _mutants(proof: bytes) -> dict[str, bytes]:
    """One-bit changes that keep the proof syntactically valid (flips in decoded values)."""
    p = L.parse_proof(proof)
    cp = L.parse_checkpoint(p.checkpoint_bytes)
    sig = cp.note.signatures[0]

    def render(extra=p.extra, index=p.index, path=p.path, checkpoint=p.checkpoint_bytes):
        return (L.PROOF_HEADER + b"\n" + f"extra {b64(extra)}\nindex {index}\n".encode()
                + b"".join(f"{b64(h)}\n".encode() for h in path) + b"\n" + checkpoint)

    def note(origin=cp.origin, size=cp.size, root=cp.root, sigline=None):
        text = f"{origin}\n{size}\n{b64(root)}\n".encode()
        line = sigline or f"{L.EM_DASH} {sig.name} {b64(sig.key_hash + sig.signature)}\n"
        return text + b"\n" + line.encode()

    assert render() == proof, "the proof does not re-render byte for byte from its parsed form"
    m = {}
    for i, h in enumerate(p.path):
        for bit in (0, 7):
            path = list(p.path)
            path[i] = flip(h, 31 - i, bit)
            m[f"hash line {i} bit {bit}"] = render(path=path)
    n = len(p.extra)
    for j, off in enumerate(sorted({0, 1, 5, n // 4, n // 3, n // 2, 2 * n // 3, n - 40, n - 2, n - 1})):
        m[f"extra byte {off}"] = render(extra=flip(p.extra, off, j))
    for bit in range(3):
        m[f"index bit {bit}"] = render(index=p.index ^ (1 << bit))
    for bit in (0, 1, 3):
        m[f"checkpoint size bit {bit}"] = render(checkpoint=note(size=cp.size ^ (1 << bit)))
    for off in (0, 31):
        m[f"checkpoint root byte {off}"] = render(checkpoint=note(root=flip(cp.root, off, off)))
    m["checkpoint origin"] = render(checkpoint=note(origin=cp.origin.replace("i", "h", 1)))
    for off in (0, 3, 4, 40, 67):
        raw = flip(sig.key_hash + sig.signature, off, off)
        m[f"checkpoint signature byte {off}"] = render(checkpoint=note(
            sigline=f"{L.EM_DASH} {sig.name} {b64(raw)}\n"))
    assert all(v != proof for v in m.values())
    return m


def test_flipped_bits_are_invalid(world):
    keys = world.keys
    # a proof with a long path (middle of the tree) and the last entry's
    seqs = sorted({1, world.size // 3, world.size - 1})
    mdir = world.root / "mutants"
    mdir.mkdir()
    paths, labels = [], []
    for seq in seqs:
        proof = world.proofs[seq].read_bytes()
        for label, data in _mutants(proof).items():
            f = mdir / f"seq{seq}-{len(paths):03d}.tlog-proof"
            f.write_bytes(data)
            paths.append(f)
            labels.append(f"#{seq} {label}")
    assert max(len(L.parse_proof(world.proofs[s].read_bytes()).path) for s in seqs) >= 4
    recs = verify_proofs(keys.trust, paths)
    accepted = [f"{lab}: {r['reason']}" for lab, r in zip(labels, recs) if r["verdict"] != "INVALID"]
    ref_accepted = []
    for lab, f in zip(labels, paths):
        try:
            L.verify_proof(f.read_bytes(), keys.ledger_raw, ORIGIN)
            ref_accepted.append(lab)
        except L.RefError:
            pass
    assert not accepted, "verify-proof accepts mutated proofs:\n" + "\n".join(accepted)
    assert not ref_accepted, "ledger_ref accepts mutated proofs (reference bug):\n" + "\n".join(ref_accepted)
    ireport.add("Ledger: one-bit mutants of proofs",
                f"  {len(paths)} mutants of proofs #{seqs}: all INVALID for verify-proof and ledger_ref.py")


def test_proof_needs_trusted_ledger_key(world, tmp_path):
    keys = world.keys
    proof = world.proofs[0]
    no_ledger = tmp_path / "no-ledger.toml"
    sc.run(["trust", "add", "--store", no_ledger, "--role", "acquisition", keys.ct_pub])
    wrong_role = tmp_path / "wrong-role.toml"
    sc.run(["trust", "add", "--store", wrong_role, "--role", "acquisition", keys.ct_pub])
    sc.run(["trust", "add", "--store", wrong_role, "--role", "acquisition", keys.ledger_pub])
    for store in (no_ledger, wrong_role):
        (r,) = verify_proofs(store, [proof])
        assert r["verdict"] == "INVALID", f"verify-proof with {store.name}: {r} (C4: role ledger)"
    # another key's signature under the right name is not the ledger's
    with pytest.raises(L.RefError):
        L.verify_proof(proof.read_bytes(), L.public_key_from_pem(keys.ct_pub.read_bytes()), ORIGIN)


def test_prove_without_checkpoint(keys, tmp_path):
    db = tmp_path / "fresh.db"
    ledger_init(db, "fresh.scanseal.example/l")
    f = tmp_path / "CT_small.dcm"
    shutil.copyfile(corpus_file("CT_small.dcm"), f)
    sign_ledger(keys.ct_key, keys.ct_kid, db, [f], out=tmp_path / "out")
    out = tmp_path / "p.tlog-proof"
    p = sc.run(["ledger", "prove", db, "--seq", "0", "--out", out], ok=(2,))
    assert "checkpoint" in p.stderr, f"no hint to make a checkpoint:\n{p.describe()}"
    assert not out.exists()
    sc.run(["ledger", "prove", db, "--seq", "1", "--key", keys.ledger_key, "--out", out], ok=(2,))
    v = L.verify_proof(prove(db, seq=0, out=out, key=keys.ledger_key), keys.ledger_raw,
                       "fresh.scanseal.example/l")
    assert v.checkpoint.size == 1 and v.checkpoint.root == L.leaf_hash(v.encoded)
    # --out never overwrites
    sc.run(["ledger", "prove", db, "--seq", "0", "--out", out], ok=(2,))


def test_ledger_info(world):
    info = sc.run(["ledger", "info", world.db]).stdout
    root = L.mth_of_leaf_hashes(world.leaves()).hex()
    for pat in (rf"^origin\s+{re.escape(ORIGIN)}$", rf"^entries\s+{world.size}$", rf"^root\s+{root}$",
                rf"{re.escape(L.verifier_key(ORIGIN, world.keys.ledger_raw))}"):
        assert re.search(pat, info, re.M), f"ledger info lacks /{pat}/:\n{info}"


# ------------------------------------------------------- 2. consistency --

def test_checkpoints_consistent(world):
    keys = world.keys
    leaves = world.leaves()
    old = L.verify_checkpoint(world.cp_old.read_bytes(), keys.ledger_raw, ORIGIN)
    new = L.verify_checkpoint(world.cp_new.read_bytes(), keys.ledger_raw, ORIGIN)
    assert old.size == world.k_old and new.size == world.size
    assert old.root == L.mth_of_leaf_hashes(leaves[:world.k_old]), (
        f"old checkpoint root {old.root.hex()} != MTH of entries 0..{world.k_old - 1} from the proofs")
    assert new.root == L.mth_of_leaf_hashes(leaves), "new checkpoint root != MTH of all entries"
    proof = L.consistency_proof(old.size, leaves)
    L.verify_consistency(old.size, new.size, old.root, new.root, proof)
    with pytest.raises(L.RefError):
        L.verify_consistency(old.size, new.size, old.root, new.root, [flip(proof[0], 3)] + proof[1:])

    _, rec, _ = ledger_verify(world.db, trust=keys.trust, checkpoints=(world.cp_old,))
    assert rec["verdict"] == "INTACT" and rec["external_consistent"] == 1, rec
    assert rec["size"] == world.size and rec["root"] == new.root.hex() and rec["origin"] == ORIGIN, rec
    assert rec["checkpoints_verified"] == 2 and rec["signatures_checked_against"] == "trust-store", rec
    _, rec, _ = ledger_verify(world.db, trust=keys.trust, checkpoints=(world.cp_old, world.cp_new))
    assert rec["verdict"] == "INTACT" and rec["external_consistent"] == 2, rec
    # without a trust store the output must say the signatures were checked otherwise
    text, rec, _ = ledger_verify(world.db)
    assert rec["verdict"] == "INTACT" and rec["signatures_checked_against"] != "trust-store", rec


# -------------------------------------------------------- 3. tampering --

def _expect_altered(db: Path, keys: Keys, seq: int, checkpoints=()) -> dict:
    text, rec, pj = ledger_verify(db, trust=keys.trust, checkpoints=checkpoints)
    assert text.returncode == 1, f"tampered ledger not detected:\n{text.describe()}"
    assert f"#{seq}" in text.stdout.splitlines()[0], f"first line does not name #{seq}:\n{text.stdout}"
    assert rec["first_bad_seq"] == seq, f"first_bad_seq {rec['first_bad_seq']}, expected {seq}: {pj.stdout}"
    return rec


def test_triggers_refuse_changes(world, tmp_path):
    db = copy_db(world.db, tmp_path / "l.db")
    for sql in ("UPDATE entries SET recorded='2020-01-01T00:00:00Z' WHERE seq=3;",
                "DELETE FROM entries WHERE seq=3;",
                "UPDATE nodes SET hash=zeroblob(32) WHERE level=0 AND idx=0;",
                "DELETE FROM nodes WHERE level=0 AND idx=0;",
                "DELETE FROM checkpoints;",
                "UPDATE ledger_meta SET value='x' WHERE name='origin';"):
        p = sqlite(db, sql, ok=False)
        assert p.returncode != 0 and APPEND_ONLY in p.stderr, f"sqlite3 `{sql}`: {p.returncode} {p.stderr!r}"
    text, rec, _ = ledger_verify(db, trust=world.keys.trust)
    assert rec["verdict"] == "INTACT", "refused statements changed the ledger"


@pytest.mark.parametrize("column,value,seq", [
    ("recorded", "'2020-01-01T00:00:00Z'", 3),
    ("pixel_digest", "zeroblob(32)", 5),
    ("signer", "X'00112233445566778899aabbccddeeff'", 0),
    ("instance", "zeroblob(32)", 8),
])
def test_changed_row(world, tmp_path, column, value, seq):
    db = copy_db(world.db, tmp_path / "l.db")
    sqlite(db, f"DROP TRIGGER entries_no_update; UPDATE entries SET {column}={value} WHERE seq={seq};")
    _expect_altered(db, world.keys, seq)


def _delete_tail(db: Path, first: int, *, nodes: bool, checkpoints: bool) -> None:
    sql = f"DROP TRIGGER entries_no_delete; DELETE FROM entries WHERE seq >= {first};"
    if nodes:
        sql += f"DROP TRIGGER nodes_no_delete; DELETE FROM nodes WHERE ((idx + 1) << level) > {first};"
    if checkpoints:
        sql += "DROP TRIGGER checkpoints_no_delete; DELETE FROM checkpoints;"
    sqlite(db, sql)


def test_deleted_tail(world, tmp_path):
    keys = world.keys
    first = world.size - 2
    # entries and their nodes gone, stored checkpoints too: only the exported checkpoint knows
    db = copy_db(world.db, tmp_path / "rolled-back.db")
    _delete_tail(db, first, nodes=True, checkpoints=True)
    _, rec, _ = ledger_verify(db, trust=keys.trust)
    assert rec["verdict"] == "INTACT" and rec["size"] == first, (
        f"after a clean rollback with no stored checkpoint left the ledger is self-consistent (§8): {rec}")
    rec = _expect_altered(db, keys, first, checkpoints=(world.cp_new,))
    assert any(p["first_bad_seq"] == first for p in rec["problems"]), rec
    # entries gone, nodes left behind: the stored nodes beyond the tree give it away
    db2 = copy_db(world.db, tmp_path / "entries-only.db")
    _delete_tail(db2, first, nodes=False, checkpoints=True)
    _expect_altered(db2, keys, first)
    # entries and nodes gone, stored checkpoints kept: they cover the removed entries
    db3 = copy_db(world.db, tmp_path / "stored-cp.db")
    _delete_tail(db3, first, nodes=True, checkpoints=False)
    _expect_altered(db3, keys, first)


def _recompute_nodes(db: Path) -> None:
    """What an attacker with the file can do (§8): re-encode every row (§3.1, from the spec's
    schema) and rewrite every perfect-subtree node, then drop the stored checkpoints."""
    con = sqlite3.connect(str(db))
    rows = con.execute("SELECT seq, recorded, kind, signer, envelope, pixel_mode, pixel_digest, "
                       "pixel_tile_size, instance, predecessor FROM entries ORDER BY seq").fetchall()
    leaves = []
    for seq, rec, kind, signer, env, mode, dig, tile, inst, pred in rows:
        px = None if mode is None else {"mode": mode, "digest": dig, "tile_size": tile}
        leaves.append(L.leaf_hash(L.encode_entry(L.entry_value(seq, kind, px, signer, env, inst, rec,
                                                               pred or b""))))
    con.executescript("DROP TRIGGER nodes_no_delete; DROP TRIGGER checkpoints_no_delete;"
                      "DELETE FROM nodes; DELETE FROM checkpoints;")
    level, nodes = 0, leaves
    while nodes:
        con.executemany("INSERT INTO nodes(level, idx, hash) VALUES (?, ?, ?)",
                        [(level, i, h) for i, h in enumerate(nodes)])
        nodes = [L.node_hash(nodes[i], nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)]
        level += 1
    con.commit()
    con.close()


def test_row_changed_and_nodes_recomputed(world, tmp_path):
    keys = world.keys
    db = copy_db(world.db, tmp_path / "recomputed.db")
    sqlite(db, "DROP TRIGGER entries_no_update; UPDATE entries SET recorded='2020-01-01T00:00:00Z' WHERE seq=2;")
    _recompute_nodes(db)
    _, rec, _ = ledger_verify(db, trust=keys.trust)
    assert rec["verdict"] == "INTACT", (
        "rows re-encoded and nodes recomputed with ledger_ref.py from the spec must pass the "
        f"internal checks (§8: only an exported checkpoint detects this): {rec}")
    text, rec, _ = ledger_verify(db, trust=keys.trust, checkpoints=(world.cp_old,))
    assert text.returncode == 1 and "rewritten" in text.stdout.splitlines()[0], text.describe()
    assert rec["external_consistent"] == 0, rec


def test_rebuilt_ledger(world, tmp_path):
    """A new ledger with the same origin, the same files re-sealed in another order with one
    of them swapped for an altered copy: internally sound, inconsistent with the old checkpoint."""
    keys = world.keys
    db = tmp_path / "rebuilt.db"
    ledger_init(db, ORIGIN)
    altered = strip_seal(world.items["CT_small.dcm"].sealed, tmp_path / "CT_small_altered.dcm",
                         pixel_change=True)
    files = [it.original for it in world.items.values()][::-1]
    files = [altered if f.name == "CT_small.dcm" else f for f in files]
    sign_ledger(keys.ct_key, keys.ct_kid, db, files, out=tmp_path / "resealed")
    checkpoint(keys, db)
    _, rec, _ = ledger_verify(db, trust=keys.trust)
    assert rec["verdict"] == "INTACT", rec
    text, rec, _ = ledger_verify(db, trust=keys.trust, checkpoints=(world.cp_old,))
    assert text.returncode == 1, text.describe()
    first = text.stdout.splitlines()[0]
    assert re.search(r"rewritten|not consistent", first), f"message must say rewritten / not consistent: {first!r}"
    assert rec["external_consistent"] == 0, rec


def test_edited_checkpoint(world, tmp_path):
    keys = world.keys
    data = world.cp_old.read_bytes()
    lines = data.split(b"\n")
    for new_size in (world.k_old - 1, world.k_old + 1):
        edited = tmp_path / f"cp-size-{new_size}.txt"
        edited.write_bytes(b"\n".join([lines[0], str(new_size).encode(), *lines[2:]]))
        with pytest.raises(L.RefError):
            L.verify_checkpoint(edited.read_bytes(), keys.ledger_raw, ORIGIN)
        text, rec, _ = ledger_verify(world.db, trust=keys.trust, checkpoints=(edited,))
        assert text.returncode == 1 and "signature" in text.stdout, text.describe()
        assert rec["external_consistent"] == 0, rec


def test_not_a_ledger(world, tmp_path):
    newer = copy_db(world.db, tmp_path / "newer.db")
    sqlite(newer, "PRAGMA user_version = 99;")
    p = sc.run(["ledger", "verify", newer], ok=(2,))
    assert "newer" in p.stderr + p.stdout, p.describe()
    other = copy_db(world.db, tmp_path / "other-app.db")
    sqlite(other, "PRAGMA application_id = 1;")
    sc.run(["ledger", "verify", other], ok=(2,))
    plain = tmp_path / "plain.db"
    sqlite(plain, "CREATE TABLE t(x); INSERT INTO t VALUES (1);")
    sc.run(["ledger", "verify", plain], ok=(2,))
    sc.run(["ledger", "verify", tmp_path / "missing.db"], ok=(2,))
    assert not (tmp_path / "missing.db").exists(), "ledger verify created a file"


def test_checkpoint_of_another_ledger(world, tmp_path):
    keys = world.keys
    db = tmp_path / "other.db"
    ledger_init(db, "other.scanseal.example/ledger")
    cp = tmp_path / "other-cp.txt"
    checkpoint(keys, db, cp, origin="other.scanseal.example/ledger")
    text = sc.run(["ledger", "verify", "--trust", keys.trust, "--checkpoint", cp, world.db], ok=(1, 2))
    assert not text.stdout.startswith("INTACT"), text.describe()


# ----------------------------------------------- 4. seal stripped + ledger --

def test_sealed_files_are_recorded(world):
    items = _all_items(world)
    recs = verify_ledger(world.keys.trust, world.db, [it.sealed for it in items])
    bad = []
    for it, r in zip(items, recs):
        lg = r["ledger"]
        ok = (r["verdict"] == "INTACT" and r["reason"].endswith(f"; recorded in the ledger as entry #{it.seq}")
              and lg["status"] == "recorded" and lg["entry"]["seq"] == it.seq
              and lg["entry"]["envelope_sha256"] == L.H(it.envelope).hex()
              and lg["entry"]["kind"] == L.decode_entry(world.extras[it.seq])["kind"])
        if not ok:
            bad.append(f"{it.name} (entry #{it.seq}):\n{sc.show(r, 1500)}")
    assert not bad, "\n".join(bad)


def test_seal_not_in_ledger(world, tmp_path):
    f = tmp_path / "CT_small.dcm"
    shutil.copyfile(corpus_file("CT_small.dcm"), f)
    sc.run(["sign", "--key", world.keys.ct_key, "--in-place", f])
    (r,) = verify_ledger(world.keys.trust, world.db, [f])
    assert r["verdict"] == "INTACT" and r["reason"].endswith("; the seal is NOT recorded in the ledger") \
        and r["ledger"]["status"] == "not-recorded", sc.show(r)


@pytest.mark.parametrize("name", ["CT_small.dcm", "rtdose.dcm"])
def test_seal_stripped(world, tmp_path, name):
    it = world.items[name]
    e = L.decode_entry(world.extras[it.seq])
    kept = strip_seal(it.sealed, tmp_path / "stripped.dcm")
    changed = strip_seal(it.sealed, tmp_path / "stripped-pixel.dcm", pixel_change=True)
    new_uid = strip_seal(it.sealed, tmp_path / "stripped-uid.dcm", new_uid=True)
    both = strip_seal(it.sealed, tmp_path / "stripped-uid-pixel.dcm", new_uid=True, pixel_change=True)
    r_kept, r_changed, r_uid, r_both = verify_ledger(world.keys.trust, world.db,
                                                     [kept, changed, new_uid, both])

    match = (f"no seal; pixels match acquisition entry #{it.seq} sealed by example-ct-01 "
             f"({world.keys.ct_kid.hex()}) "
             f"at {e['recorded']}; header not covered by a seal")
    lg = r_kept["ledger"]
    assert r_kept["verdict"] == "UNSIGNED" and lg["status"] == "pixels-match" \
        and lg["matched_by"] == "instance" and lg["entry"]["seq"] == it.seq \
        and r_kept["reason"] == match, f"expected reason {match!r}:\n{sc.show(r_kept)}"

    lg = r_changed["ledger"]
    want = (f"seal removed: ledger entry #{it.seq} records this instance as acquired at "
            f"{e['recorded']} by example-ct-01 (")
    assert r_changed["verdict"] == "ALTERED" and lg["status"] == "pixels-differ" \
        and r_changed["reason"].startswith(want) and lg["entry"]["seq"] == it.seq, (
        f"expected ALTERED, pixels-differ, reason starting {want!r}:\n{sc.show(r_changed)}")

    lg = r_uid["ledger"]
    assert r_uid["verdict"] == "UNSIGNED" and lg["status"] == "pixels-match" \
        and lg["matched_by"] == "pixels" and lg["entry"]["seq"] == it.seq \
        and r_uid["reason"].startswith(match + " ("), f"expected reason {match!r} (...):\n{sc.show(r_uid)}"

    assert r_both["verdict"] == "UNSIGNED" and r_both["ledger"]["status"] == "not-found", sc.show(r_both)


# ---------------------------------------------------------------- 5. PHI --

def test_no_phi_in_ledger_files(world):
    phi: dict[str, str] = {}
    for it in world.items.values():
        ds = pydicom.dcmread(str(it.original), stop_before_pixels=True)
        for kw in PHI_KEYWORDS:
            v = ds.get(kw)
            s = "" if v is None else str(v).strip("\x00 ")
            if len(s) >= 4:
                phi[s] = f"{it.name} {kw}"
    assert len(phi) > 30, f"too few PHI strings collected: {phi}"
    files = [Path(str(world.db) + s) for s in ("", "-wal", "-shm")]
    files = [f for f in files if f.exists()]
    files += sorted(world.proofs.values()) + [world.cp_old, world.cp_new]
    files += sorted((world.root / "file-proofs").glob("*")) if (world.root / "file-proofs").exists() else []
    found = []
    for f in files:
        data = f.read_bytes()
        for s, where in phi.items():
            for enc in (s.encode("utf-8"), s.encode("utf-16-le")):
                if enc in data:
                    found.append(f"{f.name}: {s!r} ({where})")
    assert not found, "PHI in ledger files:\n" + "\n".join(sorted(set(found)))
    ireport.add("Ledger: PHI", f"  {len(phi)} patient/study strings, none in {len(files)} ledger/proof/checkpoint files")


# -------------------------------------------------------- 6. spec vectors --

def _vectors() -> dict:
    f = VECTORS / "vectors.json"
    if not f.is_file():
        raise sc.CliFailure(f"{f} missing: regenerate with SCANSEAL_REGENERATE_LEDGER_VECTORS=1 cargo test")
    return json.loads(f.read_text())


def test_spec_vectors(tmp_path):
    v = _vectors()
    origin = v["origin"]
    lk = v["ledger_key"]
    secret = bytes.fromhex(lk["secret_hex"])
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    pub = Ed25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert pub.hex() == lk["public_hex"], "public key != the secret's"
    assert L.key_hash(origin, pub).hex() == lk["key_hash_hex"], "key hash (C2)"
    assert L.verifier_key(origin, pub) == lk["verifier_key"], "verifier key string (C3)"

    leaves = []
    for i, e in enumerate(v["entries"]):
        assert e["seq"] == i
        px = None if e["pixels"] is None else {"mode": e["pixels"]["mode"],
                                               "digest": bytes.fromhex(e["pixels"]["digest_hex"]),
                                               "tile_size": e["pixels"]["tile_size"]}
        inst = bytes.fromhex(e["instance_hex"])
        assert inst == L.instance_key(e["instance_uid"]), f"entry {i}: instance key of {e['instance_uid']!r}"
        value = L.entry_value(i, e["kind"], px, bytes.fromhex(e["signer_hex"]),
                              bytes.fromhex(e["envelope_hex"]), inst, e["recorded"],
                              bytes.fromhex(e["predecessor_hex"]))
        enc = L.encode_entry(value)
        assert enc.hex() == e["encoded_hex"], f"entry {i}: encoding from the fields differs"
        assert L.decode_entry(enc) == value
        assert L.leaf_hash(enc).hex() == e["leaf_hash_hex"], f"entry {i}: leaf hash"
        leaves.append(L.leaf_hash(enc))
    n = len(leaves)
    assert {e["kind"] for e in v["entries"]} >= {"acquired", "countersigned"}
    assert any(e["pixels"] is None for e in v["entries"]) and any(e["predecessor_hex"] for e in v["entries"])
    assert v["roots"] == [L.mth_of_leaf_hashes(leaves[:k]).hex() for k in range(1, n + 1)], "roots"

    pairs = set()
    for c in v["inclusion"]:
        m, size = c["index"], c["size"]
        pairs.add((m, size))
        path = L.inclusion_path(m, leaves[:size])
        assert [h.hex() for h in path] == c["path"], f"PATH({m}, D[{size}])"
        L.verify_inclusion(m, size, leaves[m], path, bytes.fromhex(v["roots"][size - 1]))
    assert pairs == {(m, s) for s in range(1, n + 1) for m in range(s)}, "inclusion vectors incomplete"
    pairs = set()
    for c in v["consistency"]:
        a, b = c["old_size"], c["new_size"]
        pairs.add((a, b))
        proof = L.consistency_proof(a, leaves[:b])
        assert [h.hex() for h in proof] == c["proof"], f"PROOF({a}, D[{b}])"
        ra, rb = bytes.fromhex(v["roots"][a - 1]), bytes.fromhex(v["roots"][b - 1])
        L.verify_consistency(a, b, ra, rb, proof)
        if proof:
            with pytest.raises(L.RefError):
                L.verify_consistency(a, b, ra, rb, [flip(proof[0], 0)] + proof[1:])
    assert pairs == {(a, b) for b in range(1, n + 1) for a in range(1, b + 1)}, "consistency vectors incomplete"

    cp_bytes = (VECTORS / v["checkpoint_file"]).read_bytes()
    body = f"{origin}\n{n}\n{b64(L.mth_of_leaf_hashes(leaves))}\n".encode()
    assert cp_bytes == L.sign_note(body, origin, secret), "checkpoint.txt != the note signed in Python"
    cp = L.verify_checkpoint(cp_bytes, pub, origin)
    assert cp.size == n

    proof_bytes = (VECTORS / v["proof_file"]).read_bytes()
    pv = L.verify_proof(proof_bytes, pub, origin)
    idx = pv.proof.index
    assert pv.encoded.hex() == v["entries"][idx]["encoded_hex"]
    assert pv.proof.path == L.inclusion_path(idx, leaves) and pv.proof.checkpoint_bytes == cp_bytes
    assert proof_bytes == (L.PROOF_HEADER + b"\n" + f"extra {b64(pv.encoded)}\nindex {idx}\n".encode()
                           + b"".join(f"{b64(h)}\n".encode() for h in pv.proof.path) + b"\n" + cp_bytes)

    # scanseal accepts the vector proof when the TEST 1 key is trusted as a ledger key
    pem = tmp_path / "vectors-ledger.pub"
    pem.write_bytes(Ed25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    store = tmp_path / "trust.toml"
    sc.run(["trust", "add", "--store", store, "--role", "ledger", pem])
    (r,) = verify_proofs(store, [VECTORS / v["proof_file"]])
    assert r["verdict"] == "VERIFIED" and r["entry"]["seq"] == idx, r
