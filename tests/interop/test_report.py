"""The forensic report (spec/report.md) on real files, checked with other software.

1. Alterations made by pydicom: a sealed corpus file (CT_small, MR_small, an RGB file) and a
   multi-frame file built with pydicom are loaded with pydicom, a rectangle of pixels in one
   frame is changed with numpy and the file is saved by pydicom. `verify --json --png` must
   say ALTERED, name exactly the frame and the tiles that numpy says differ (computed here
   from the two pixel arrays, not from scanseal), and the PNG — decoded with Pillow — must
   have the frame's size, be non-gray exactly on those tiles and gray elsewhere, and its gray
   levels must follow the VOI window of PS3.3 C.11.2.1.2.1 (MR_small) or the frame's data
   range (CT_small), computed here from the standard.
2. Archive run: a directory of sealed corpus files plus altered, unsigned and unreadable ones
   verified with `--threads 2`: the summary record counts exactly what the file records say,
   the text run ends with the same counts, nothing is written to stderr (not a terminal).
3. Progress: with stderr a pty the bar is drawn there, and stdout still holds only report
   lines and the summary.

Every JSON line is validated against spec/report.schema.json (seal_cli.read_verify_output).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import seal_cli as sc
from ienv import corpus_file


@pytest.fixture(scope="module")
def signer(tmp_path_factory) -> sc.Signer:
    return sc.make_signer(tmp_path_factory.mktemp("keys"))


def verify_one(signer: sc.Signer, path: Path, *extra: str) -> dict:
    p = sc.run(["verify", "--trust", signer.store, "--json", *extra, path], ok=(0, 1))
    records, summary = sc.read_verify_output(p)
    assert len(records) == 1 and summary["files"] == 1, p.describe()
    return records[0]


def frames_of(ds) -> np.ndarray:
    """The pixel array as (frames, rows, columns[, samples])."""
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return arr if frames > 1 else arr[np.newaxis, ...]


def expected_tiles(before: np.ndarray, after: np.ndarray, tile: int) -> dict[int, set]:
    """Frame number (1-based) -> {(x, y, width, height)} of every tile holding a changed
    pixel: C4.3.1 tiles, row-major from the top left, clipped at the edges."""
    out: dict[int, set] = {}
    changed = before != after
    if changed.ndim == 4:
        changed = changed.any(axis=3)
    frames, rows, columns = changed.shape
    for f in range(frames):
        for y in range(0, rows, tile):
            for x in range(0, columns, tile):
                if changed[f, y:y + tile, x:x + tile].any():
                    out.setdefault(f + 1, set()).add(
                        (x, y, min(tile, columns - x), min(tile, rows - y)))
    return out


def reported_tiles(rec: dict) -> dict[int, set]:
    pixels = [f for f in rec["findings"] if f["kind"] == "pixels_changed"]
    assert len(pixels) == 1, sc.show(rec)
    return {fc["frame"]: {(t["x"], t["y"], t["width"], t["height"]) for t in fc["tiles"]}
            for fc in pixels[0]["frames"]}


def check_picture(png: Path, rows: int, columns: int, tiles: set) -> np.ndarray:
    """The PNG read with Pillow: size, and non-gray exactly on `tiles`. Returns the gray
    levels (the G channel)."""
    with Image.open(png) as image:
        assert image.mode == "RGB", image.mode
        assert image.size == (columns, rows), (image.size, columns, rows)
        rgb = np.asarray(image).astype(int)
    marked = (rgb[..., 0] != rgb[..., 1]) | (rgb[..., 1] != rgb[..., 2])
    want = np.zeros((rows, columns), dtype=bool)
    for x, y, w, h in tiles:
        want[y:y + h, x:x + w] = True
    wrong = np.argwhere(marked != want)
    assert wrong.size == 0, f"{len(wrong)} pixels marked wrongly, first (row, col) {wrong[0]}"
    assert (rgb[..., 0][marked] > rgb[..., 1][marked]).all(), "marks are red"
    return rgb[..., 1]


def linear_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 (VOI LUT Function LINEAR) onto 0..255."""
    low = center - 0.5 - (width - 1) / 2
    high = center - 0.5 + (width - 1) / 2
    y = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    return np.where(values <= low, 0.0, np.where(values > high, 255.0, y))


def write_multiframe(source: Path, out: Path, frames: int) -> None:
    """A native multi-frame MR built by pydicom from MR_small: frame k is the slice + 50 k."""
    ds = pydicom.dcmread(source)
    base = ds.pixel_array.astype(np.int16)
    stack = np.stack([base + 50 * k for k in range(frames)])
    ds.NumberOfFrames = frames
    ds.PixelData = stack.astype("<i2").tobytes()
    ds.save_as(out, enforce_file_format=True)


CASES = {
    # name: (source, tile size, frame index to alter (0-based), (row0, row1, col0, col1), delta)
    "CT_small": ("CT_small.dcm", 64, 0, (10, 30, 70, 100), 300),
    "MR_small": ("MR_small.dcm", 16, 0, (40, 50, 5, 12), 200),
    "rgb": ("examples_rgb_color.dcm", 32, 0, (100, 140, 250, 320), 60),
    "multiframe": (None, 16, 3, (20, 37, 30, 47), 500),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_pydicom_edit_is_located_and_pictured_exactly(case, signer, tmp_path):
    source, tile, frame_index, (r0, r1, c0, c1), delta = CASES[case]
    original = tmp_path / "original.dcm"
    if source is None:
        write_multiframe(corpus_file("MR_small.dcm"), original, 5)
    else:
        shutil.copy(corpus_file(source), original)
    res = sc.sign(signer, [original], out=tmp_path / "sealed", extra=["--tile-size", str(tile)])
    assert not res.errors, res.proc.describe()
    sealed = tmp_path / "sealed" / "original.dcm"
    assert verify_one(signer, sealed)["verdict"] == "INTACT"

    ds = pydicom.dcmread(sealed)
    before = frames_of(ds).copy()
    after = before.copy()
    region = after[frame_index, r0:r1, c0:c1]
    info = np.iinfo(after.dtype)
    after[frame_index, r0:r1, c0:c1] = np.clip(region.astype(np.int64) + delta, info.min,
                                               info.max).astype(after.dtype)
    assert (after != before).any()
    out = after if int(ds.get("NumberOfFrames", 1) or 1) > 1 else after[0]
    ds.PixelData = out.tobytes()
    ds.save_as(sealed, enforce_file_format=True)
    assert sc.seal_blocks(pydicom.dcmread(sealed)), "pydicom kept the seal block"

    pictures = tmp_path / "pictures"
    rec = verify_one(signer, sealed, "--png", pictures)
    assert rec["verdict"] == "ALTERED", sc.show(rec)
    assert [f["kind"] for f in rec["findings"]] == ["pixels_changed"], sc.show(rec)
    want = expected_tiles(before, after, tile)
    assert list(want) == [frame_index + 1]
    assert reported_tiles(rec) == want, sc.show(rec)

    rows, columns = before.shape[1], before.shape[2]
    assert [p["frame"] for p in rec["pictures"]] == [frame_index + 1], sc.show(rec)
    png = Path(rec["pictures"][0]["path"])
    assert png.parent == pictures and png.name == f"original.dcm.frame-{frame_index + 1:04d}.png"
    gray = check_picture(png, rows, columns, want[frame_index + 1])

    unmarked = np.ones((rows, columns), dtype=bool)
    for x, y, w, h in want[frame_index + 1]:
        unmarked[y:y + h, x:x + w] = False
    altered_ds = pydicom.dcmread(sealed)
    frame = frames_of(altered_ds)[frame_index].astype(float)
    if frame.ndim == 3:  # RGB: BT.601 luma
        expect = frame[..., 0] * 0.299 + frame[..., 1] * 0.587 + frame[..., 2] * 0.114
    else:
        values = frame * float(altered_ds.get("RescaleSlope", 1)) + float(
            altered_ds.get("RescaleIntercept", 0))
        if "WindowCenter" in altered_ds:
            center = altered_ds.WindowCenter
            width = altered_ds.WindowWidth
            center = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
            width = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
            expect = linear_window(values, center, width)
        else:
            expect = (values - values.min()) / (values.max() - values.min()) * 255
    error = np.abs(gray[unmarked] - expect[unmarked])
    assert error.max() <= 1.0, f"gray level off by {error.max()} from the standard's window"


def test_an_archive_run_summarizes_what_its_records_say(signer, tmp_path):
    names = ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm",
             "MR_small_RLE.dcm", "examples_rgb_color.dcm", "SC_rgb_small_odd.dcm",
             "liver_1frame.dcm", "examples_palette.dcm", "rtdose.dcm", "JPEG2000.dcm",
             "SC_rgb_rle.dcm"]
    inputs = tmp_path / "in"
    for i, name in enumerate(names):
        sub = inputs / f"d{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus_file(name), sub / name)
    res = sc.sign(signer, [inputs], out=tmp_path / "archive")
    assert not res.errors, res.proc.describe()
    archive = tmp_path / "archive"

    # One edited with pydicom (a pixel), one copied unsigned, one truncated.
    edited = next(archive.rglob("MR_small.dcm"))
    ds = pydicom.dcmread(edited)
    arr = ds.pixel_array.copy()
    arr[3, 3] += 1
    ds.PixelData = arr.tobytes()
    ds.save_as(edited, enforce_file_format=True)
    shutil.copy(corpus_file("CT_small.dcm"), archive / "d0" / "unsigned.dcm")
    truncated = next(archive.rglob("liver_1frame.dcm"))
    truncated.write_bytes(truncated.read_bytes()[:2000])

    p = sc.run(["verify", "--trust", signer.store, "--json", "--threads", "2", archive], ok=(1,))
    assert p.stderr == "", p.describe()
    records, summary = sc.read_verify_output(p)
    assert summary["files"] == len(names) + 1
    by_path = {Path(r["path"]).name: r["verdict"] for r in records}
    assert by_path["MR_small.dcm"] == "ALTERED"
    assert by_path["unsigned.dcm"] == "UNSIGNED"
    assert by_path["liver_1frame.dcm"] == "ERROR"
    assert summary["verdicts"]["ALTERED"] == 1 and summary["verdicts"]["UNSIGNED"] == 1
    assert summary["verdicts"]["ERROR"] == 1
    assert summary["verdicts"]["INTACT"] == len(names) - 2
    assert summary["threads"] == 2 and summary["exit_status"] == 1
    assert summary["bytes"] == sum(f.stat().st_size for f in archive.rglob("*") if f.is_file())
    # Input order: directories recursed in file-name order.
    paths = [r["path"] for r in records]
    assert paths == sorted(paths, key=lambda s: Path(s).relative_to(archive).parts)

    text = sc.run(["verify", "--trust", signer.store, "--threads", "1", archive], ok=(1,))
    lines = text.stdout.splitlines()
    assert len(lines) == len(records) + 1
    assert [line.split(" ", 1)[0] for line in lines[:-1]] == [r["verdict"] for r in records]
    counts = ", ".join(f"{summary['verdicts'][v]} {v}" for v in sc.VERDICTS
                       if summary["verdicts"][v])
    assert lines[-1].startswith(f"SUMMARY {len(records)} files: {counts}; "), lines[-1]


def test_the_progress_bar_goes_to_a_terminal_stderr_only(signer, tmp_path):
    """stderr a terminal (a pty): the bar is drawn there, stdout holds only the report lines;
    stderr a pipe: nothing on it (checked in the archive test above)."""
    import os
    import pty
    import select
    import subprocess

    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(40):
        shutil.copy(corpus_file("MR_small.dcm"), inputs / f"{i:02d}.dcm")
    res = sc.sign(signer, [inputs], out=tmp_path / "archive")
    assert not res.errors, res.proc.describe()

    master, slave = pty.openpty()
    proc = subprocess.Popen([str(sc.scanseal_bin()), "verify", "--trust", str(signer.store),
                             "--threads", "1", str(tmp_path / "archive")],
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    terminal = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        terminal += chunk
    stdout, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0, terminal.decode(errors="replace")
    shown = terminal.decode(errors="replace")
    assert "/40 files" in shown and "files/s" in shown, shown[-500:]
    lines = stdout.decode().splitlines()
    assert len(lines) == 41 and all(line.startswith("INTACT ") for line in lines[:40]), lines
    assert lines[-1].startswith("SUMMARY 40 files: 40 INTACT; ")
