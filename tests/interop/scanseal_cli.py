"""Running `scanseal digest --json` and checking its output against the CLI contract.

Contract (one JSON object per input file per line, in input order):

    ok:    path, canon_version, transfer_syntax, pixel_mode, pixel_digest,
           descriptor, tile_size, frames, tiles, frame_digests, attributes
    error: path, error
    exit status: 2 if any file had an error, else 0; anything else (101 = Rust
    panic, negative = killed by a signal) is a crash.

Only structural and spec-derived invariants are checked here (spec/canonical-form.md,
rule numbers cited); the interop tests compare values between files.
"""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ienv import scanseal_bin

# Fixed seed for derived salts (C6.3): with it, equal attributes in two files
# give equal commitments.
SALT_SEED = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

CANON_VERSION = "canon-v1"
PIXEL_MODES = ("decoded-samples", "encoded-frames", "none")
DESCRIPTOR_KEYS = (
    "rows",
    "columns",
    "samples_per_pixel",
    "bits_allocated",
    "bits_stored",
    "high_bit",
    "pixel_representation",
    "photometric_interpretation",
    "number_of_frames",
    "sample_format",
)
ATTRIBUTE_KEYS = ("id", "tag", "keyword", "vr", "canonical_length")
DEFAULT_TILE_SIZE = 64  # C4.3.1

# C3.1: the pixel mode is chosen by the transfer syntax alone.
DECODED_TS = {
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.90",
}
ENCODED_TS = {
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.92",
    "1.2.840.10008.1.2.4.93",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
    "1.2.840.10008.1.2.4.110",
    "1.2.840.10008.1.2.4.111",
    "1.2.840.10008.1.2.4.112",
} | {f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109)}
VIDEO_TS = {f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109)}

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ContractViolation(AssertionError):
    """scanseal's output broke the CLI contract (or it crashed)."""


@dataclass
class Run:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    records: list[dict] = field(default_factory=list)

    def describe_exit(self) -> str:
        rc = self.returncode
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            return f"killed by {name}"
        if rc == 101:
            return "exit 101 (Rust panic)"
        return f"exit {rc}"

    def stderr_tail(self, n: int = 15) -> str:
        lines = self.stderr.strip().splitlines()
        return "\n".join(lines[-n:]) if lines else "(empty)"


def run_digest(
    paths: Sequence[Path | str],
    *,
    salt_seed: str | None = SALT_SEED,
    tile_size: int | None = None,
    timeout: float = 300,
) -> Run:
    """Run `scanseal digest --json` on `paths`; no checking (see check_run)."""
    argv = [str(scanseal_bin()), "digest", "--json"]
    if salt_seed is not None:
        argv += ["--salt-seed", salt_seed]
    if tile_size is not None:
        argv += ["--tile-size", str(tile_size)]
    argv += [str(p) for p in paths]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise ContractViolation(
            f"scanseal digest did not finish within {timeout}s on {len(paths)} file(s): "
            + " ".join(str(p) for p in paths)
        ) from e
    return Run(
        argv=argv,
        returncode=proc.returncode,
        stdout=proc.stdout.decode("utf-8", "replace"),
        stderr=proc.stderr.decode("utf-8", "replace"),
    )


def is_crash(run: Run) -> bool:
    return run.returncode not in (0, 2)


def check_run(
    run: Run,
    paths: Sequence[Path | str],
    *,
    salt_seed: str | None = SALT_SEED,
    tile_size: int | None = None,
) -> list[dict]:
    """Check exit status and output of a run against the contract; return the records."""
    where = f"`{' '.join(run.argv[:4])} ...` on {len(paths)} file(s)"
    if is_crash(run):
        raise ContractViolation(
            f"scanseal crashed: {run.describe_exit()} for {where}; must exit 0 or 2.\n"
            f"stderr (tail):\n{run.stderr_tail()}"
        )
    records = []
    for n, line in enumerate(run.stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ContractViolation(f"{where}: stdout line {n} is not JSON ({e}): {line[:200]!r}")
        if not isinstance(rec, dict):
            raise ContractViolation(f"{where}: stdout line {n} is not a JSON object: {line[:200]!r}")
        records.append(rec)
    if len(records) != len(paths):
        raise ContractViolation(
            f"{where}: expected {len(paths)} JSON lines (one per file), got {len(records)}.\n"
            f"stdout head: {run.stdout[:500]!r}\nstderr (tail):\n{run.stderr_tail()}"
        )
    for p, rec in zip(paths, records):
        if rec.get("path") != str(p):
            raise ContractViolation(
                f"{where}: records must follow input order with `path` echoing the argument; "
                f"expected path {str(p)!r}, got {rec.get('path')!r}"
            )
        validate_record(rec, salt_seed=salt_seed, tile_size=tile_size)
    any_error = any("error" in r for r in records)
    want_rc = 2 if any_error else 0
    if run.returncode != want_rc:
        raise ContractViolation(
            f"{where}: exit status {run.returncode}, but contract requires {want_rc} "
            f"({'some' if any_error else 'no'} file had an error)"
        )
    return records


def _fail(rec: dict, msg: str) -> None:
    raise ContractViolation(f"{rec.get('path')}: {msg}\nrecord: {json.dumps(rec)[:1500]}")


def validate_record(rec: dict, *, salt_seed: str | None, tile_size: int | None) -> None:
    """Structural checks of one JSON record, plus spec invariants on counts and modes."""
    if "error" in rec:
        if not isinstance(rec["error"], str) or not rec["error"].strip():
            _fail(rec, "`error` must be a non-empty message string")
        for k in ("pixel_digest", "attributes", "frame_digests"):
            if k in rec:
                _fail(rec, f"error record must not carry `{k}`")
        return
    for k in (
        "path",
        "canon_version",
        "transfer_syntax",
        "pixel_mode",
        "pixel_digest",
        "descriptor",
        "tile_size",
        "frames",
        "tiles",
        "frame_digests",
        "attributes",
    ):
        if k not in rec:
            _fail(rec, f"missing key `{k}`")
    if rec["canon_version"] != CANON_VERSION:
        _fail(rec, f"canon_version {rec['canon_version']!r} != {CANON_VERSION!r}")
    mode = rec["pixel_mode"]
    if mode not in PIXEL_MODES:
        _fail(rec, f"pixel_mode {mode!r} not one of {PIXEL_MODES}")
    ts = rec["transfer_syntax"]
    # C3.1: mode is a function of the transfer syntax (or `none` without pixels).
    if mode == "decoded-samples" and ts not in DECODED_TS:
        _fail(rec, f"pixel_mode decoded-samples with transfer syntax {ts} (C3.1)")
    if mode == "encoded-frames" and ts not in ENCODED_TS:
        _fail(rec, f"pixel_mode encoded-frames with transfer syntax {ts} (C3.1)")
    fds = rec["frame_digests"]
    if not isinstance(fds, list) or any(not isinstance(d, str) or not _HEX64.match(d) for d in fds):
        _fail(rec, "frame_digests must be a list of 64-char lowercase hex strings")
    if mode == "none":
        if rec["pixel_digest"] is not None or rec["descriptor"] is not None:
            _fail(rec, "pixel_mode none must have pixel_digest null and descriptor null")
        if fds:
            _fail(rec, "pixel_mode none must have no frame digests")
    else:
        if not isinstance(rec["pixel_digest"], str) or not _HEX64.match(rec["pixel_digest"]):
            _fail(rec, "pixel_digest must be 64 lowercase hex chars")
        desc = rec["descriptor"]
        if not isinstance(desc, dict) or set(desc) != set(DESCRIPTOR_KEYS):
            _fail(rec, f"descriptor must be an object with exactly {DESCRIPTOR_KEYS}")
        if rec["frames"] != len(fds):
            _fail(rec, f"frames={rec['frames']} but {len(fds)} frame digests")
        if mode == "decoded-samples":
            t = tile_size if tile_size is not None else DEFAULT_TILE_SIZE
            if rec["tile_size"] != t:
                _fail(rec, f"tile_size {rec['tile_size']} != requested {t} (C4.3.1)")
            if rec["frames"] != desc["number_of_frames"]:
                _fail(rec, f"frames {rec['frames']} != descriptor.number_of_frames")
            per_frame = math.ceil(desc["rows"] / t) * math.ceil(desc["columns"] / t)
            if rec["tiles"] != rec["frames"] * per_frame:
                _fail(rec, f"tiles {rec['tiles']} != frames x ceil(rows/T) x ceil(cols/T) "
                      f"= {rec['frames'] * per_frame} (C4.3.1)")
        else:  # encoded-frames
            if rec["tile_size"] != 0:
                _fail(rec, f"encoded-frames must record tile_size 0 (C4.5.2), got {rec['tile_size']}")
            if ts in VIDEO_TS and rec["frames"] != 1:
                _fail(rec, "video transfer syntaxes have exactly one unit (C4.5.1)")
    attrs = rec["attributes"]
    if not isinstance(attrs, list):
        _fail(rec, "attributes must be a list")
    seen = set()
    for a in attrs:
        missing = [k for k in ATTRIBUTE_KEYS if k not in a]
        if missing:
            _fail(rec, f"attribute {a} lacks {missing}")
        if a["id"] in seen:
            _fail(rec, f"duplicate attribute id {a['id']} (C5.2.2 requires an error instead)")
        seen.add(a["id"])
        if salt_seed is not None:
            c = a.get("commitment")
            if not isinstance(c, str) or not _HEX64.match(c):
                _fail(rec, f"attribute {a['id']}: commitment must be 64 hex chars with --salt-seed")
        elif "commitment" in a:
            _fail(rec, f"attribute {a['id']}: commitment present without --salt-seed")


def digest(
    paths: Iterable[Path | str], *, salt_seed: str | None = SALT_SEED, tile_size: int | None = None,
    allow_errors: bool = False,
) -> list[dict]:
    """Run, check the contract, and (unless allow_errors) fail on any error record."""
    paths = [str(p) for p in paths]
    run = run_digest(paths, salt_seed=salt_seed, tile_size=tile_size)
    records = check_run(run, paths, salt_seed=salt_seed, tile_size=tile_size)
    if not allow_errors:
        errs = [f"  {r['path']}: {r['error']}" for r in records if "error" in r]
        if errs:
            raise AssertionError("scanseal could not canonicalize:\n" + "\n".join(errs))
    return records


def attribute_diff(a: dict, b: dict) -> dict[str, set[str]]:
    """Ids added in b, removed from a, and present in both with different commitments."""
    ca = {x["id"]: x.get("commitment") for x in a["attributes"]}
    cb = {x["id"]: x.get("commitment") for x in b["attributes"]}
    return {
        "added": set(cb) - set(ca),
        "removed": set(ca) - set(cb),
        "changed": {k for k in set(ca) & set(cb) if ca[k] != cb[k]},
    }


def describe_ids(ids: Iterable[str], *records: dict) -> str:
    """'id (tag keyword vr)' for each id, looked up in the given records."""
    info = {}
    for r in records:
        for x in r.get("attributes", []):
            info.setdefault(x["id"], f"{x['tag']} {x['keyword'] or '?'} {x['vr']}")
    return ", ".join(f"{i} ({info.get(i, '?')})" for i in sorted(ids)) or "none"


def frame_diff(a: dict, b: dict) -> list[int]:
    fa, fb = a["frame_digests"], b["frame_digests"]
    if len(fa) != len(fb):
        return list(range(max(len(fa), len(fb))))
    return [i for i, (x, y) in enumerate(zip(fa, fb)) if x != y]
