"""Running `scanseal keygen / trust add / sign / verify` and reading seals independently.

CLI contract checked here (spec/seal-format.md §7.3 and the README):

    sign:   `SEALED src -> dst (key <id>)` per sealed file, `ERROR path: reason` per failure;
            exit 0 when every file was sealed, 1 when any failed (2: bad usage).
    verify: with --json one file record per line with path, verdict, reason, signer, sealed_at,
            seal_source, attributes_checked, findings, chain, then one summary record
            (spec/report.md; every line validated against spec/report.schema.json); exit 0 when
            every verdict is INTACT or MODIFIED (--strict: only INTACT), else 1 (2: could not
            run).
    Any other exit status (101 = Rust panic, negative = signal) is a crash.

Seals are read back without scanseal: the embedded block with pydicom, the chain and the
manifest with cbor2 (strict: one item spanning the input, §2), the envelope with pycose
(test_seal.py), and the pixel digest / frame roots with the spec's Python reference
implementation (spec/reference/canon_v1.py).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import cbor2

from ienv import REPO_ROOT, scanseal_bin

sys.path.insert(0, str(REPO_ROOT / "spec" / "reference"))
import canon_v1  # noqa: E402  (spec/reference: written from the spec only)

SCANSEAL_CREATOR = "SCANSEAL 1"
SEAL_GROUP = 0x7FF1
VERDICTS = ("INTACT", "MODIFIED", "ALTERED", "UNSIGNED", "UNTRUSTED", "INVALID", "ERROR")
PASSING = ("INTACT", "MODIFIED")
VERIFY_KEYS = ("path", "verdict", "reason", "signer", "sealed_at", "seal_source",
               "attributes_checked", "findings", "chain")
ATTRIBUTE_KINDS = ("attribute_changed", "attribute_added", "attribute_removed",
                   "attribute_uncheckable", "seal_block_in_item")
PIXEL_KINDS = ("pixels_changed", "pixel_descriptor_changed", "pixel_mode_changed",
               "pixels_added", "pixels_removed")

_SEALED = re.compile(r"^SEALED (.+) -> (.+) \(key ([0-9a-f]{32})\)$")
_KEY_ID = re.compile(r"key id ([0-9a-f]{32})")


class CliFailure(AssertionError):
    """scanseal crashed, broke its output contract, or refused a valid request."""


@dataclass
class Proc:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        rc = self.returncode
        how = ("killed by signal %d" % -rc if rc < 0 else
               "exit 101 (Rust panic)" if rc == 101 else f"exit {rc}")
        return (f"`{' '.join(self.argv)}` -> {how}\nstdout (head):\n{self.stdout[:1500]}"
                f"\nstderr (tail):\n{self.stderr[-1500:]}")


def run(args: Sequence[str | Path], *, ok=(0,), timeout: float = 300) -> Proc:
    argv = [str(scanseal_bin()), *map(str, args)]
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise CliFailure(f"`{' '.join(argv[:3])} ...` did not finish within {timeout}s") from e
    proc = Proc(argv, p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))
    if proc.returncode not in (0, 1, 2):
        raise CliFailure("scanseal crashed: " + proc.describe())
    if proc.returncode not in ok:
        raise CliFailure("unexpected exit status: " + proc.describe())
    return proc


# ------------------------------------------------------------------ keys --

@dataclass(frozen=True)
class Signer:
    name: str
    key: Path  # NAME.key (PKCS#8 PEM)
    pub: Path  # NAME.pub (SPKI PEM)
    key_id: str  # 32 hex digits, as keygen prints it
    store: Path  # a trust store holding the key with role acquisition


def make_signer(workdir: Path, name: str = "acq", store: Path | None = None) -> Signer:
    """keygen + trust add (role acquisition, no validity window) to `store` (default
    workdir/trust.toml, created if missing)."""
    workdir.mkdir(parents=True, exist_ok=True)
    p = run(["keygen", "--out", workdir, "--name", name])
    m = _KEY_ID.search(p.stdout)
    if not m:
        raise CliFailure(f"keygen printed no `key id <32 hex>`:\n{p.describe()}")
    key, pub = workdir / f"{name}.key", workdir / f"{name}.pub"
    if not (key.is_file() and pub.is_file()):
        raise CliFailure(f"keygen did not write {key} and {pub}:\n{p.describe()}")
    store = store or workdir / "trust.toml"
    run(["trust", "add", "--store", store, "--role", "acquisition", "--name", name, pub])
    return Signer(name, key, pub, m.group(1), store)


# ------------------------------------------------------------------ sign --

@dataclass
class SignResult:
    proc: Proc
    sealed: dict[str, str] = field(default_factory=dict)  # src as printed -> dst
    errors: dict[str, str] = field(default_factory=dict)  # path as printed -> reason


def sign(signer: Signer, paths: Iterable[str | Path], *, sidecar: bool = False,
         out: Path | None = None, in_place: bool = False, extra: Sequence[str] = ()) -> SignResult:
    """Run `scanseal sign`; check exit status against the per-file lines. Failures of single
    files are returned in `errors`, not raised."""
    args: list[str | Path] = ["sign", "--key", signer.key]
    if sidecar:
        args.append("--sidecar")
    if out is not None:
        args += ["--out", out]
    if in_place:
        args.append("--in-place")
    args += [*extra, *paths]
    p = run(args, ok=(0, 1))
    res = SignResult(p)
    for line in p.stdout.splitlines():
        m = _SEALED.match(line)
        if m:
            if m.group(3) != signer.key_id:
                raise CliFailure(f"sign reports key {m.group(3)}, keygen said {signer.key_id}")
            res.sealed[m.group(1)] = m.group(2)
        elif line.startswith("ERROR "):
            path, _, why = line[len("ERROR "):].partition(": ")
            res.errors[path] = why
    for line in p.stderr.splitlines():  # errors may go to stderr
        if line.startswith("ERROR "):
            path, _, why = line[len("ERROR "):].partition(": ")
            res.errors.setdefault(path, why)
    want = 1 if res.errors else 0
    if p.returncode != want:
        raise CliFailure(f"sign exit status {p.returncode}, contract requires {want} "
                         f"({len(res.errors)} ERROR lines):\n{p.describe()}")
    return res


# ---------------------------------------------------------------- verify --

_REPORT_VALIDATOR = None


def report_validator():
    """A JSON Schema 2020-12 validator for spec/report.schema.json (independent of scanseal)."""
    global _REPORT_VALIDATOR
    if _REPORT_VALIDATOR is None:
        import jsonschema
        schema = json.loads((REPO_ROOT / "spec" / "report.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        _REPORT_VALIDATOR = jsonschema.Draft202012Validator(schema)
    return _REPORT_VALIDATOR


def read_verify_output(p: "Proc") -> tuple[list[dict], dict]:
    """`verify --json` output under spec/report.md §3: every line valid against the schema,
    file records then exactly one summary record, whose counts match the file records."""
    validator = report_validator()
    records = []
    for n, line in enumerate(p.stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise CliFailure(f"verify --json line {n} is not JSON ({e}): {line[:300]!r}")
        errors = sorted(validator.iter_errors(rec), key=lambda e: list(e.absolute_path))
        if errors:
            raise CliFailure(f"verify --json line {n} breaks spec/report.schema.json: "
                             f"{errors[0].message} at {list(errors[0].absolute_path)}: {line[:1500]}")
        missing = [k for k in VERIFY_KEYS if rec.get("type") == "file" and k not in rec]
        if missing:
            raise CliFailure(f"verify --json record lacks {missing}: {line[:1500]}")
        records.append(rec)
    if not records or records[-1]["type"] != "summary":
        raise CliFailure(f"verify --json must end with a summary record:\n{p.describe()}")
    summary = records.pop()
    if any(r["type"] != "file" for r in records):
        raise CliFailure(f"verify --json: more than one summary record:\n{p.describe()}")
    if summary["files"] != len(records):
        raise CliFailure(f"summary counts {summary['files']} files, {len(records)} were reported")
    for v in VERDICTS:
        n = sum(1 for r in records if r["verdict"] == v)
        if summary["verdicts"][v] != n:
            raise CliFailure(f"summary counts {summary['verdicts'][v]} {v}, {n} were reported")
    passing = PASSING[:1] if summary["strict"] else PASSING
    failed = sum(1 for r in records if r["verdict"] not in passing)
    if (summary["failed"], summary["passed"]) != (failed, len(records) - failed):
        raise CliFailure(f"summary passed/failed {summary['passed']}/{summary['failed']} wrong")
    return records, summary


def verify(signer_or_store: Signer | Path, paths: Sequence[str | Path], *,
           sidecar_dir: Path | None = None, strict: bool = False,
           expect_count: bool = True) -> list[dict]:
    """`scanseal verify --json`: contract-checked records in output order."""
    store = signer_or_store.store if isinstance(signer_or_store, Signer) else signer_or_store
    args: list[str | Path] = ["verify", "--trust", store, "--json"]
    if strict:
        args.append("--strict")
    if sidecar_dir is not None:
        args += ["--sidecar-dir", sidecar_dir]
    args += list(paths)
    p = run(args, ok=(0, 1))
    recs, summary = read_verify_output(p)
    for rec in recs:
        if rec["verdict"] not in VERDICTS:
            raise CliFailure(f"unknown verdict {rec['verdict']!r}: {show(rec)}")
        for f in rec["findings"]:
            if f.get("kind") not in ATTRIBUTE_KINDS + PIXEL_KINDS:
                raise CliFailure(f"finding of unknown kind {f}: {show(rec)}")
    if summary["exit_status"] != p.returncode:
        raise CliFailure(f"summary exit_status {summary['exit_status']} but the exit status was "
                         f"{p.returncode}:\n{p.describe()}")
    if expect_count:
        if len(recs) != len(paths):
            raise CliFailure(f"verify printed {len(recs)} records for {len(paths)} files:\n{p.describe()}")
        for path, rec in zip(paths, recs):
            if rec["path"] != str(path):
                raise CliFailure(f"verify records must follow input order with `path` echoing the "
                                 f"argument: expected {str(path)!r}, got {rec['path']!r}")
    passing = PASSING[:1] if strict else PASSING
    want = 0 if all(r["verdict"] in passing for r in recs) else 1
    if p.returncode != want:
        raise CliFailure(f"verify exit status {p.returncode}, contract requires {want} for "
                         f"verdicts {sorted({r['verdict'] for r in recs})}:\n{p.describe()}")
    return recs


def show(rec: dict, limit: int = 3000) -> str:
    s = json.dumps(rec, indent=1)
    return s if len(s) <= limit else s[:limit] + " ..."


def finding_id(f: dict) -> str:
    """A finding's attribute in the id form of transcoders.py / `digest --json`:
    `(0008,2111)` -> `00082111`; `(0009,"GEMS_IDEN_01",01)` -> `0009,GEMS_IDEN_01,01`."""
    tag = f.get("tag") or ""
    m = re.fullmatch(r"\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)", tag)
    if m:
        return (m.group(1) + m.group(2)).upper()
    m = re.fullmatch(r'\(([0-9A-Fa-f]{4}),"(.*)",([0-9A-Fa-f]{2})\)', tag)
    if m:
        return f"{m.group(1).upper()},{m.group(2)},{m.group(3).upper()}"
    return f"{f.get('kind')}:{tag or '?'}"


def attribute_finding_ids(rec: dict) -> set[str]:
    return {finding_id(f) for f in rec["findings"] if f["kind"] in ATTRIBUTE_KINDS}


def pixel_findings(rec: dict) -> list[dict]:
    return [f for f in rec["findings"] if f["kind"] in PIXEL_KINDS]


# ------------------------------------------------------ reading the seal --

def decode_strict(data: bytes, what: str):
    """One CBOR item spanning all of `data`, re-encoding to the same bytes (spec §2)."""
    fp = io.BytesIO(data)
    item = cbor2.CBORDecoder(fp).decode()
    if fp.tell() != len(data):
        raise AssertionError(f"{what}: {len(data) - fp.tell()} bytes after the CBOR item")
    if cbor2.dumps(item, canonical=True) != data:
        raise AssertionError(f"{what}: not the deterministic encoding of the item it decodes to")
    return item


def seal_blocks(ds) -> list[int]:
    """Block numbers bb of top-level (7FF1,00bb) creators equal to `SCANSEAL 1`."""
    out = []
    for bb in range(0x10, 0x100):
        tag = (SEAL_GROUP << 16) | bb
        if tag in ds:
            v = ds[tag].value
            if isinstance(v, bytes):
                v = v.decode("latin-1")
            if str(v).rstrip("\x00 ").lstrip(" ") == SCANSEAL_CREATOR:
                out.append(bb)
    return out


def embedded_chain_bytes(path: Path) -> bytes | None:
    """The chain CBOR of the file's embedded block, read with pydicom, with the §6.1 pad
    (one 00 when the chain's length is odd) removed; None without a block."""
    import dicom_ref as ref

    ds = ref.read(path, stop_before_pixels=False)
    blocks = seal_blocks(ds)
    if not blocks:
        return None
    assert len(blocks) == 1, f"{path}: {len(blocks)} SCANSEAL blocks ({blocks}), B5 allows one"
    tag = (SEAL_GROUP << 16) | (blocks[0] << 8) | 0x01
    assert tag in ds, f"{path}: creator (7FF1,00{blocks[0]:02X}) without (7FF1,{blocks[0]:02X}01)"
    value = bytes(ds[tag].value)
    assert len(value) % 2 == 0, f"{path}: (7FF1,{blocks[0]:02X}01) has odd length {len(value)}"
    fp = io.BytesIO(value)
    cbor2.CBORDecoder(fp).decode()
    end = fp.tell()
    if end == len(value):
        return value
    assert end == len(value) - 1 and value[-1] == 0 and end % 2 == 1, (
        f"{path}: chain of {end} bytes in a value of {len(value)}: only one 00 pad for an odd "
        "length is allowed (§6.1)")
    return value[:end]


def chain_records(chain_bytes: bytes, what: str) -> list[dict]:
    chain = decode_strict(chain_bytes, what)
    assert isinstance(chain, dict) and set(chain) == {"format", "seals"}, f"{what}: chain keys {chain!r:.200}"
    assert chain["format"] == "scanseal-chain-v1", f"{what}: chain format {chain['format']!r}"
    assert isinstance(chain["seals"], list) and chain["seals"], f"{what}: no seals"
    for r in chain["seals"]:
        assert isinstance(r, dict) and set(r) == {"envelope", "salts", "tiles"}, f"{what}: record keys {set(r)}"
    return chain["seals"]


def canonical_id(attr: dict) -> bytes:
    """C5.2.1 ID bytes of a `digest --json` attribute (via the reference implementation)."""
    m = re.fullmatch(r"\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)", attr["tag"])
    assert m, f"unexpected tag form {attr['tag']!r}"
    return canon_v1.attribute_id(int(m.group(1), 16), int(m.group(2), 16), attr.get("private_creator"))


def check_pixels_section(pixels: dict, tiles: list[bytes], what: str) -> None:
    """M2 (PIXEL_DIGEST recomputed from the manifest) and R3 (tiles' Merkle roots are the
    frame digests), computed with spec/reference/canon_v1.py."""
    d = pixels["descriptor"]
    fmt = {"integer": 0, "float32": 1, "float64": 2}[d["sample_format"]]
    desc = canon_v1.Descriptor(**{**{k: d[k] for k in canon_v1.Descriptor.__dataclass_fields__},
                                  "sample_format": fmt})
    mode = {"decoded-samples": canon_v1.MODE_DECODED_SAMPLES,
            "encoded-frames": canon_v1.MODE_ENCODED_FRAMES}[pixels["mode"]]
    want = canon_v1.pixel_digest(desc, mode, pixels["tile_size"], list(pixels["frames"]))
    assert pixels["digest"] == want, (
        f"{what}: pixels.digest {pixels['digest'].hex()} != PIXEL_DIGEST recomputed from the "
        f"manifest {want.hex()} (M2)")
    if mode == canon_v1.MODE_DECODED_SAMPLES:
        assert len(pixels["frames"]) == d["number_of_frames"], f"{what}: frames vs number_of_frames"
        assert len(tiles) == len(pixels["frames"]), f"{what}: {len(tiles)} tile lists for {len(pixels['frames'])} frames (R3)"
        for f, (blob, root) in enumerate(zip(tiles, pixels["frames"])):
            assert len(blob) % 32 == 0 and blob, f"{what}: frame {f} tiles are {len(blob)} bytes"
            leaves = [blob[i:i + 32] for i in range(0, len(blob), 32)]
            assert canon_v1.frame_digest(leaves) == root, f"{what}: MTH(tiles of frame {f}) != FRAME({f}) (R3)"
    else:
        assert tiles == [], f"{what}: encoded-frames seal with {len(tiles)} tile entries (R3)"
