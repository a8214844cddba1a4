"""Every file of pydicom's test corpus, including the deliberately broken ones.

- scanseal never crashes: each file gives a canonical form or an `error`
  record, exit status 0 or 2 (files run in batches; a crashing batch is re-run
  file by file to name the culprit);
- spec-derived expectations on named files (errors, pixel modes);
- descriptor values agree with pydicom's reading of the header;
- files whose pixels pydicom decodes identically (and with the same
  descriptor) share one pixel digest; different pixels, different digests.
A summary table (counts per pixel mode, errors grouped by message) is printed
at the end of the run.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import dicom_ref as ref
import ireport
import scanseal_cli as cli
from ienv import corpus_dir

BATCH = 25

# C2.1/C4/C8: inputs that cannot be fully processed must give an error record.
SPEC_ERRORS = {
    "ExplVR_BigEndNoMeta.dcm": "C2.1: no File Meta Information",
    "ExplVR_LitEndNoMeta.dcm": "C2.1: no File Meta Information",
    "no_meta.dcm": "C2.1: no File Meta Information",
    "rtstruct.dcm": "C2.1: no File Meta Information",
    "MR_truncated.dcm": "C4.2.4: Pixel Data shorter than Rows x Columns (PixelDataTooShort)",
    "rtplan_truncated.dcm": "C8: last element's length runs past the end of the file (Parse)",
    "badVR.dcm": "C4.1.1: Number of Frames is '1A', not a decimal integer",
    "nested_priv_SQ.dcm": "C4.1.1: Pixel Data without Rows/Columns/Bits Allocated",
    "meta_missing_tsyntax.dcm": "C2.1: no Transfer Syntax UID (and C4.1.1 as nested_priv_SQ)",
    # The data set is encoded Implicit VR although the TS (JPEG Baseline) is explicit;
    # pydicom guesses its way through, dcmdump fails ("Non-standard VR").
    "SC_rgb_jpeg.dcm": "C2.1: data set not encoded in the transfer syntax the File Meta names",
    # Its last directory record item declares 248 bytes where 224 remain in the
    # sequence and the file (the README: made by removing elements from DICOMDIR).
    "dicomdirtests/DICOMDIR-nooffset": "C8: item length runs past the end of its sequence (Parse)",
}

# C3.1: the pixel mode follows from the transfer syntax, or `none` without pixels.
_NONE = [
    "UN_sequence.dcm",  # JPEG lossless TS but no Pixel Data
    "reportsi.dcm", "reportsi_with_empty_number_tags.dcm", "test-SR.dcm", "rtplan.dcm",
    "waveform_ecg.dcm", "empty_charset_LEI.dcm", "priv_SQ.dcm",
    "dicomdirtests/DICOMDIR", "dicomdirtests/DICOMDIR-bigEnd", "dicomdirtests/DICOMDIR-empty.dcm",
    "dicomdirtests/DICOMDIR-implicit",
    "dicomdirtests/DICOMDIR-nopatient", "dicomdirtests/DICOMDIR-reordered",
    "dicomdirtests/TINY_ALPHA/DICOMDIR",
]
_ENCODED = [
    "693_J2KI.dcm", "JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm", "JPEG2000.dcm",
    "JPEGLSNearLossless_08.dcm", "JPEGLSNearLossless_16.dcm", "JPGExtended.dcm",
    "SC_jpeg_no_color_transform.dcm", "SC_jpeg_no_color_transform_2.dcm",
    "SC_rgb_dcmtk_+eb+cr.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm", "SC_rgb_dcmtk_+eb+cy+n2.dcm",
    "SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm", "SC_rgb_dcmtk_+eb+cy+s4.dcm",
    "SC_rgb_gdcm_KY.dcm", "SC_rgb_jls_lossy_line.dcm", "SC_rgb_jls_lossy_sample.dcm",
    "SC_rgb_jpeg_app14_dcmd.dcm", "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_jpeg_lossy_gdcm.dcm", "SC_rgb_small_odd_jpeg.dcm", "examples_ybr_color.dcm",
]
# Conformant files in lossless/native transfer syntaxes (not listed: GDCMJ2K_TextGBR
# (non-conformant JP2 header), J2K_pixelrep_mismatch (codestream signedness differs
# from the header), SC_ybr_full_422_uncompressed (native 4:2:2 subsampled, which
# canon-v1 does not describe)).
_DECODED = [
    "CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
    "MR_small_expb.dcm", "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm", "ExplVR_BigEnd.dcm",
    "rtdose.dcm", "rtdose_1frame.dcm", "rtdose_expb.dcm", "rtdose_expb_1frame.dcm",
    "rtdose_rle.dcm", "rtdose_rle_1frame.dcm", "liver_1frame.dcm", "liver_expb_1frame.dcm",
    "SC_rgb_rle.dcm", "SC_rgb_rle_16bit.dcm", "SC_rgb_rle_2frame.dcm",
    "SC_rgb_rle_16bit_2frame.dcm", "SC_rgb_rle_32bit.dcm", "SC_rgb_rle_32bit_2frame.dcm",
    "SC_rgb_small_odd.dcm", "SC_rgb_small_odd_big_endian.dcm", "examples_overlay.dcm",
    "examples_palette.dcm", "examples_rgb_color.dcm", "image_dfl.dcm", "examples_jpeg2k.dcm",
    "SC_rgb_jpeg_gdcm.dcm", "SC_rgb_jpeg_dcmd.dcm",
]
# Not listed anywhere (either outcome is defensible, only "no crash" is checked):
# no_meta_group_length.dcm lacks (0002,0000), Type 1 in PS3.10 but not required by C2.1.
SPEC_MODES = {**{n: "none" for n in _NONE}, **{n: "encoded-frames" for n in _ENCODED},
              **{n: "decoded-samples" for n in _DECODED}}
# Every image under dicomdirtests/<patient>/<series>/ is a small native MR/CT/CR.
DECODED_DIRS = ("dicomdirtests/77654033/", "dicomdirtests/98892001/", "dicomdirtests/98892003/")


def _is_dicom_magic(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(132)
    return head[128:132] == b"DICM" or head[:4] == b"DICM"


def _classify(corpus: Path) -> tuple[list[Path], list[Path]]:
    """(DICOM candidates: *.dcm and extensionless DICOM files, other files)."""
    dicom, other = [], []
    for p in sorted(x for x in corpus.rglob("*") if x.is_file()):
        if p.suffix.lower() == ".dcm" or (p.suffix == "" and _is_dicom_magic(p)):
            dicom.append(p)
        else:
            other.append(p)
    return dicom, other


@dataclass
class CorpusRun:
    corpus: Path
    dicom: list[Path]
    other: list[Path]
    records: dict[Path, dict] = field(default_factory=dict)
    crashes: dict[Path, str] = field(default_factory=dict)
    violations: dict[Path, str] = field(default_factory=dict)

    def rel(self, p: Path) -> str:
        return p.relative_to(self.corpus).as_posix()

    def by_name(self) -> dict[str, dict]:
        return {self.rel(p): r for p, r in self.records.items()}


def _run_one(p: Path, out: CorpusRun) -> None:
    try:
        run = cli.run_digest([p], timeout=120)
    except cli.ContractViolation as e:  # timeout
        out.crashes[p] = str(e)
        return
    if cli.is_crash(run):
        out.crashes[p] = f"{run.describe_exit()}; stderr: {run.stderr_tail(5)}"
        return
    try:
        out.records[p] = cli.check_run(run, [p])[0]
    except cli.ContractViolation as e:
        out.violations[p] = str(e)


def _run_all(paths: list[Path], out: CorpusRun) -> None:
    for i in range(0, len(paths), BATCH):
        batch = paths[i:i + BATCH]
        try:
            run = cli.run_digest(batch, timeout=300)
            if not cli.is_crash(run):
                for p, rec in zip(batch, cli.check_run(run, batch)):
                    out.records[p] = rec
                continue
        except cli.ContractViolation:
            pass
        for p in batch:  # isolate the crash / violation
            _run_one(p, out)


@pytest.fixture(scope="module")
def corpus_run() -> CorpusRun:
    corpus = corpus_dir()
    dicom, other = _classify(corpus)
    out = CorpusRun(corpus, dicom, other)
    _run_all(dicom + other, out)
    _summarize(out)
    return out


def _summarize(out: CorpusRun) -> None:
    modes = Counter(r["pixel_mode"] for p, r in out.records.items() if "error" not in r and p in out.dicom)
    errors: dict[str, list[str]] = defaultdict(list)
    for p, r in out.records.items():
        if "error" in r and p in out.dicom:
            errors[r["error"].replace(str(p), "<file>")].append(out.rel(p))
    n_err = sum(len(v) for v in errors.values())
    lines = [f"  DICOM candidates: {len(out.dicom)} (*.dcm and extensionless files with DICM)",
             *[f"    canonicalized, pixel_mode {m:16} {n:4}" for m, n in sorted(modes.items())],
             f"    error records                         {n_err:4}",
             f"    crashes                               {sum(p in out.dicom for p in out.crashes):4}",
             f"    contract violations                   {sum(p in out.dicom for p in out.violations):4}",
             f"  other files (must give errors): {len(out.other)}, of which canonicalized: "
             f"{sum('error' not in out.records.get(p, {'error': 1}) for p in out.other)}",
             "  errors grouped by message:"]
    for msg, files in sorted(errors.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shown = ", ".join(files[:4]) + (f", … (+{len(files) - 4})" if len(files) > 4 else "")
        lines.append(f"    [{len(files):3}] {msg}")
        lines.append(f"          {shown}")
    for p, why in {**out.crashes, **out.violations}.items():
        lines.append(f"  CRASH/VIOLATION {out.rel(p)}: {why.splitlines()[0]}")
    ireport.add("Corpus: pydicom 3.0.2 test_files through scanseal digest --json", *lines)


def test_no_file_crashes_scanseal(corpus_run):
    assert len(corpus_run.dicom) > 100, f"only {len(corpus_run.dicom)} DICOM files found in the corpus"
    bad = [f"{corpus_run.rel(p)}: {why}" for p, why in corpus_run.crashes.items()]
    bad += [f"{corpus_run.rel(p)}: contract violation: {why}" for p, why in corpus_run.violations.items()]
    assert not bad, "scanseal must give a canonical form or an error record for every file:\n" + "\n".join(bad)


def test_non_dicom_files_give_errors(corpus_run):
    canon = [corpus_run.rel(p) for p in corpus_run.other
             if p in corpus_run.records and "error" not in corpus_run.records[p]]
    assert not canon, f"non-DICOM files were canonicalized (C2.1 requires File Meta): {canon}"


def test_spec_expected_errors(corpus_run):
    recs = corpus_run.by_name()
    bad = []
    for name, why in SPEC_ERRORS.items():
        r = recs.get(name)
        if r is None:
            bad.append(f"{name}: no record (crash or missing file)")
        elif "error" not in r:
            bad.append(f"{name}: canonicalized (pixel_mode {r['pixel_mode']}) but must be an error: {why}")
    assert not bad, "\n".join(bad)


def test_spec_expected_pixel_modes(corpus_run):
    recs = corpus_run.by_name()
    expected = dict(SPEC_MODES)
    for p in corpus_run.dicom:
        name = corpus_run.rel(p)
        if name.startswith(DECODED_DIRS):
            expected[name] = "decoded-samples"
    bad = []
    for name, mode in sorted(expected.items()):
        r = recs.get(name)
        if r is None:
            bad.append(f"{name}: no record (crash or missing file)")
        elif "error" in r:
            bad.append(f"{name}: error {r['error']!r}, expected pixel_mode {mode}")
        elif r["pixel_mode"] != mode:
            bad.append(f"{name}: pixel_mode {r['pixel_mode']}, expected {mode} (TS {r['transfer_syntax']})")
    assert not bad, f"{len(bad)} of {len(expected)} files:\n" + "\n".join(bad)


def _header_descriptor(ds, rec) -> dict:
    nf = ds.get("NumberOfFrames")
    pi = str(ds.get("PhotometricInterpretation", "")).rstrip(" ")
    if (rec["pixel_mode"] == "decoded-samples" and ds.file_meta.TransferSyntaxUID.is_encapsulated
            and pi in ("YBR_RCT", "YBR_ICT")):
        pi = "RGB"  # C4.1.2
    return {
        "rows": ds.Rows, "columns": ds.Columns, "samples_per_pixel": ds.SamplesPerPixel,
        "bits_allocated": ds.BitsAllocated, "photometric_interpretation": pi,
        "number_of_frames": int(nf) if nf not in (None, "") else 1,
    }


def test_descriptor_agrees_with_pydicom(corpus_run):
    bad = []
    for p, r in corpus_run.records.items():
        if "error" in r or r["descriptor"] is None or not _integer_samples(r["descriptor"]):
            continue
        ds = ref.read(p, stop_before_pixels=True)
        want = _header_descriptor(ds, r)
        got = {k: r["descriptor"][k] for k in want}
        if got != want:
            bad.append(f"{corpus_run.rel(p)}: scanseal {got} vs header {want}")
    assert not bad, "\n".join(bad)


def _integer_samples(desc: dict) -> bool:
    """sample_format 0 (C4.1.1) — the CLI may spell it as the number or as "integer"."""
    return desc["sample_format"] in (0, "integer")


def _canonical_samples(arr: np.ndarray, desc: dict) -> np.ndarray:
    """C4.2.3 masking applied to pydicom's array (sign extension undone)."""
    if not _integer_samples(desc) or arr.dtype.kind not in "iu":
        return arr
    unsigned = arr.astype(arr.dtype.newbyteorder("<"), copy=False).view(f"<u{arr.dtype.itemsize}")
    shift = desc["high_bit"] + 1 - desc["bits_stored"]
    return (unsigned >> shift) & np.array((1 << desc["bits_stored"]) - 1, dtype=unsigned.dtype)


def test_equal_pixels_give_equal_digests(corpus_run):
    groups: dict[tuple, list[tuple[str, str]]] = defaultdict(list)
    undecodable = []
    for p, r in sorted(corpus_run.records.items()):
        if "error" in r or r["pixel_mode"] != "decoded-samples":
            continue
        try:
            arr = ref.pixels(p)
        except Exception as e:
            undecodable.append(f"{corpus_run.rel(p)} ({type(e).__name__})")
            continue
        desc_key = json.dumps(r["descriptor"], sort_keys=True)
        groups[(desc_key, ref.pixel_key(_canonical_samples(arr, r["descriptor"])))].append(
            (corpus_run.rel(p), r["pixel_digest"]))
    bad, lines = [], []
    for key, members in groups.items():
        digests = {d for _, d in members}
        if len(members) > 1:
            lines.append("  " + " = ".join(n for n, _ in members))
        if len(digests) > 1:
            bad.append("same pixels per pydicom, different digests: "
                       + ", ".join(f"{n} {d[:12]}" for n, d in members))
    by_digest = defaultdict(set)
    for key, members in groups.items():
        for _, d in members:
            by_digest[d].add(key)
    for d, keys in by_digest.items():
        if len(keys) > 1:
            names = [n for k in keys for n, _ in groups[k]]
            bad.append(f"different pixels per pydicom, one digest {d[:12]}: {names}")
    ireport.add("Corpus: files with identical decoded pixels (one digest each)", *lines)
    if undecodable:
        ireport.add("Corpus: canonicalized by scanseal but not decodable by pydicom", "  " + ", ".join(undecodable))
    assert not bad, "\n".join(bad)
