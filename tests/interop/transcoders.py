"""Lossless transcodes of corpus files with DCMTK and GDCM.

Each `Transcode` names a tool invocation, the transfer syntax it must
produce, and the attribute ids the tool is *allowed* (and, because the check
is exact, expected) to change compared with the original file, with the
reason. Nothing else may differ: neither in pydicom's reading of the files nor
in scanseal's attribute commitments.

Chained transcodes (`src=`) take another transcode's output as input (e.g.
decompress what a compressor wrote, or re-fragment an encapsulated file);
their allowed changes are the whole chain's.

Run standalone to produce every transcode into a directory and print what
each tool produced (no scanseal needed):

    .interop-cache/venv/bin/python tests/interop/transcoders.py [--out DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ienv import require_tool

# Inputs: CT_small and MR_small (16-bit signed grey); examples_palette (8-bit
# PALETTE COLOR, Pixel Data VR OW) and examples_rgb_color (8-bit RGB, OB), which
# take the 8-bit and 3-sample paths of every codec; and a 3-frame image built
# from CT_small (multi-frame encapsulated data exercises C4.4.1).
MULTIFRAME_SOURCE = "CT_small_3frames.dcm"
SOURCES = ("CT_small.dcm", "MR_small.dcm", "examples_palette.dcm", "examples_rgb_color.dcm",
           MULTIFRAME_SOURCE)

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
RLE = "1.2.840.10008.1.2.5"
JPEG_P14 = "1.2.840.10008.1.2.4.57"
JPEG_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"

# dcmcjpeg records what it did in Derivation Description (0008,2111), a
# free-text attribute a reader sees ("Lossless JPEG compression, selection
# value 1, point transform 0, compression ratio 2.2"). It is a real, visible
# header change, so scanseal must report it; DCMTK adds it even for lossless
# processes (it does not touch Lossy Image Compression or the SOP Instance UID
# for lossless, see dcmcjpeg --help: +ud is the default).
DCMJPEG_DERIVATION = frozenset({"00082111"})


@dataclass(frozen=True)
class Transcode:
    name: str
    argv: tuple[str, ...]  # "{src}" and "{dst}" are substituted
    ts: str  # transfer syntax the output must have
    src: str | None = None  # input: another transcode's output; None = the original
    allowed_changes: frozenset[str] = frozenset()  # attribute ids vs the original
    why: str = ""  # reason for allowed_changes (empty when none are allowed)
    refragment: bool = False  # same TS as its input; must have more fragments instead
    single_frame_only: bool = False  # the tool cannot do this to multi-frame images
    note: str = ""

    @property
    def tool(self) -> str:
        return self.argv[0]


TRANSCODES: tuple[Transcode, ...] = (
    # ---- DCMTK
    Transcode("dcmtk-implicit", ("dcmconv", "+ti", "{src}", "{dst}"), IMPLICIT_LE),
    Transcode("dcmtk-bigendian", ("dcmconv", "+tb", "{src}", "{dst}"), EXPLICIT_BE),
    Transcode("dcmtk-bigendian-to-explicit", ("dcmconv", "+te", "{src}", "{dst}"), EXPLICIT_LE,
              src="dcmtk-bigendian"),
    Transcode("dcmtk-deflated", ("dcmconv", "+td", "{src}", "{dst}"), DEFLATED_LE),
    Transcode("dcmtk-rle", ("dcmcrle", "{src}", "{dst}"), RLE),
    Transcode("dcmtk-rle-1k-fragments", ("dcmcrle", "+fs", "1", "{src}", "{dst}"), RLE,
              note="several fragments per frame: non-conformant for RLE (PS3.5 A.4.2), "
                   "but spec C4.4.1 rule 2 assigns all fragments of a 1-frame image to it"),
    Transcode("dcmtk-rle-decompressed", ("dcmdrle", "{src}", "{dst}"), EXPLICIT_LE,
              src="dcmtk-rle"),
    Transcode("dcmtk-jpegls", ("dcmcjpls", "{src}", "{dst}"), JPEG_LS_LOSSLESS),
    Transcode("dcmtk-jpegls-1k-fragments", ("dcmcjpls", "+fs", "1", "{src}", "{dst}"),
              JPEG_LS_LOSSLESS),
    Transcode("dcmtk-jpegls-decompressed", ("dcmdjpls", "{src}", "{dst}"), EXPLICIT_LE,
              src="dcmtk-jpegls"),
    Transcode("dcmtk-jpeg-sv1", ("dcmcjpeg", "+e1", "{src}", "{dst}"), JPEG_SV1,
              allowed_changes=DCMJPEG_DERIVATION,
              why="dcmcjpeg adds DerivationDescription describing the compression"),
    Transcode("dcmtk-jpeg-p14", ("dcmcjpeg", "+el", "{src}", "{dst}"), JPEG_P14,
              allowed_changes=DCMJPEG_DERIVATION,
              why="dcmcjpeg adds DerivationDescription describing the compression"),
    Transcode("dcmtk-jpeg-sv1-decompressed", ("dcmdjpeg", "{src}", "{dst}"), EXPLICIT_LE,
              src="dcmtk-jpeg-sv1", allowed_changes=DCMJPEG_DERIVATION,
              why="inherited from dcmcjpeg; dcmdjpeg keeps DerivationDescription"),
    # ---- GDCM
    Transcode("gdcm-implicit", ("gdcmconv", "--implicit", "{src}", "{dst}"), IMPLICIT_LE),
    Transcode("gdcm-implicit-to-explicit", ("gdcmconv", "--explicit", "{src}", "{dst}"),
              EXPLICIT_LE, src="gdcm-implicit"),
    Transcode("gdcm-deflated", ("gdcmconv", "--deflated", "{src}", "{dst}"), DEFLATED_LE),
    Transcode("gdcm-rle", ("gdcmconv", "--rle", "{src}", "{dst}"), RLE),
    Transcode("gdcm-jpegls", ("gdcmconv", "--jpegls", "{src}", "{dst}"), JPEG_LS_LOSSLESS),
    # gdcmconv --split: "Could not split" for multi-frame images.
    Transcode("gdcm-jpegls-split", ("gdcmconv", "--split", "1024", "{src}", "{dst}"),
              JPEG_LS_LOSSLESS, src="gdcm-jpegls", refragment=True, single_frame_only=True),
    # gdcmconv --j2k is reversible (lossless) unless --irreversible/--lossy is given;
    # the output TS is the lossless-only one and pydicom equality is checked.
    Transcode("gdcm-j2k", ("gdcmconv", "--j2k", "{src}", "{dst}"), J2K_LOSSLESS),
    Transcode("gdcm-j2k-split", ("gdcmconv", "--split", "2048", "{src}", "{dst}"),
              J2K_LOSSLESS, src="gdcm-j2k", refragment=True, single_frame_only=True),
    Transcode("gdcm-j2k-decompressed", ("gdcmconv", "--raw", "{src}", "{dst}"), EXPLICIT_LE,
              src="gdcm-j2k"),
    # gdcmconv --jpeg is lossless (process 14 SV1) unless --lossy is given.
    Transcode("gdcm-jpeg", ("gdcmconv", "--jpeg", "{src}", "{dst}"), JPEG_SV1),
)

BY_NAME = {t.name: t for t in TRANSCODES}


def cases() -> list[tuple[str, Transcode]]:
    """Every (source, transcode) pair that applies."""
    return [(s, t) for s in SOURCES for t in TRANSCODES
            if not (t.single_frame_only and s == MULTIFRAME_SOURCE)]


def build_multiframe(ct_small: Path, dst: Path) -> Path:
    """CT_small's pixels as frame 0, flipped top-bottom as frame 1, shifted 17
    columns as frame 2; SOP Class Multi-frame Grayscale Word SC (so that no tool
    has a reason to change it), Explicit VR Little Endian."""
    import numpy as np

    import dicom_ref as ref

    ds = ref.read(ct_small)
    a = ref.pixels(ct_small)
    frames = np.stack([a, a[::-1], np.roll(a, 17, axis=1)])
    ds.NumberOfFrames = 3
    ds.PixelData = frames.astype("<i2").tobytes()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.save_as(str(dst))
    return dst


def source_paths(workdir: Path) -> dict[str, Path]:
    from ienv import corpus_file

    paths = {s: corpus_file(s) for s in SOURCES if s != MULTIFRAME_SOURCE}
    paths[MULTIFRAME_SOURCE] = build_multiframe(paths["CT_small.dcm"], workdir / MULTIFRAME_SOURCE)
    return paths


class TranscodeFailed(AssertionError):
    pass


class Producer:
    """Produces transcodes of source files into a directory, memoized."""

    def __init__(self, outdir: Path, source_paths: dict[str, Path]):
        self.outdir = outdir
        self.sources = source_paths
        self._done: dict[tuple[str, str], Path | BaseException] = {}

    def input_of(self, source: str, t: Transcode) -> Path:
        return self.sources[source] if t.src is None else self.get(source, t.src)

    def get(self, source: str, name: str) -> Path:
        key = (source, name)
        if key not in self._done:
            try:
                self._done[key] = self._produce(source, BY_NAME[name])
            except BaseException as e:  # remembered, re-raised for every dependant
                self._done[key] = e
        r = self._done[key]
        if isinstance(r, BaseException):
            raise r
        return r

    def _produce(self, source: str, t: Transcode) -> Path:
        require_tool(t.tool)
        src = self.input_of(source, t)
        dst = self.outdir / f"{Path(source).stem}.{t.name}.dcm"
        argv = [a.format(src=src, dst=dst) for a in t.argv]
        proc = subprocess.run(argv, capture_output=True, timeout=120)
        if proc.returncode != 0 or not dst.is_file():
            raise TranscodeFailed(
                f"{' '.join(argv)} failed (exit {proc.returncode}):\n"
                + proc.stderr.decode("utf-8", "replace")[-2000:]
            )
        return dst


def _report(outdir: Path) -> int:
    import dicom_ref as ref

    sources = source_paths(outdir)
    prod = Producer(outdir, sources)
    bad = 0
    print(f"{'source':20} {'transcode':30} {'transfer syntax':24} {'frags':>5} "
          f"{'pixels==':8} attribute changes (pydicom view)")
    for s, t in cases():
        orig_px = ref.pixels(sources[s])
        orig_view = ref.attribute_view(sources[s])
        try:
            p = prod.get(s, t.name)
        except AssertionError as e:
            bad += 1
            print(f"{s:20} {t.name:30} FAILED: {e}")
            continue
        ts = ref.transfer_syntax(p)
        frags = ref.fragment_count(p)
        try:
            eq = str(ref.same_pixels(orig_px, ref.pixels(p)))
        except Exception as e:  # report, keep going
            eq = f"decode error: {e}"
        changed = ref.all_ids(ref.view_diff(orig_view, ref.attribute_view(p)))
        ok = ts == t.ts and eq == "True" and changed == set(t.allowed_changes)
        bad += not ok
        print(f"{s:20} {t.name:30} {ts:24} {frags if frags is not None else '-':>5} "
              f"{eq:8} {sorted(changed) or '-'}{'' if ok else '   <-- UNEXPECTED'}")
    print(f"\nfiles in {outdir}")
    return 1 if bad else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="output directory (default: a new temp dir)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="scanseal-transcodes-"))
    out.mkdir(parents=True, exist_ok=True)
    sys.exit(_report(out))
