"""Edits to real files change exactly what was edited.

Copies of corpus files are written with pydicom: the baseline is an
unmodified pydicom round trip (itself checked against the original), and each
edited copy is compared with the baseline:

(a) one pixel sample changed -> pixel_digest and exactly that frame's digest
    change, no commitment changes;
(b) one attribute value changed -> exactly that id's commitment changes;
(c) one attribute added -> exactly that id is added;
(d) one attribute removed (standard, and private) -> exactly that id is removed.
Plus spec properties that must hold on real files: bits above High Bit are
not part of the digest (C4.2.3), and the private block number is not part of a
private attribute's identity (C5.2.1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

import dicom_ref as ref
import scanseal_cli as cli
from ienv import corpus_file

SOURCES = ("CT_small.dcm", "MR_small.dcm")
MULTIFRAME = "rtdose.dcm"  # 15 frames, 32-bit, implicit VR LE
HIGH_BITS = "examples_overlay.dcm"  # 16 allocated, 12 stored, unsigned, explicit VR LE


def _write(ds: Dataset, path: Path) -> Path:
    ds.save_as(str(path))
    return path


def _roundtrip(source: str, tmp_path: Path) -> tuple[Path, Dataset]:
    """pydicom read+write of a corpus file, checked equal to the original."""
    orig = corpus_file(source)
    base = _write(ref.read(orig), tmp_path / f"base-{source}")
    rec_o, rec_b = cli.digest([orig, base])
    assert rec_b["pixel_digest"] == rec_o["pixel_digest"], f"pydicom round trip of {source} changed pixel_digest"
    d = cli.attribute_diff(rec_o, rec_b)
    assert not any(d.values()), (
        f"pydicom round trip of {source} changed commitments: "
        + "; ".join(f"{k} {cli.describe_ids(v, rec_o, rec_b)}" for k, v in d.items() if v))
    return base, ref.read(base)


def _id_of_tag(rec: dict, tag: str) -> str:
    hits = [a["id"] for a in rec["attributes"] if a["tag"].upper() == tag.upper()]
    assert len(hits) == 1, f"{rec['path']}: expected one attribute with tag {tag}, found {hits}"
    return hits[0]


def _expect_only(rec_b: dict, rec_x: dict, what: str, **want: set[str]) -> None:
    d = cli.attribute_diff(rec_b, rec_x)
    for kind in ("added", "removed", "changed"):
        exp = want.get(kind, set())
        assert d[kind] == exp, (
            f"{what}: {kind} ids {cli.describe_ids(d[kind], rec_b, rec_x)}, "
            f"expected {sorted(exp) or 'none'}")


def _flip_sample(ds: Dataset, frame: int, row: int, col: int, bit: int) -> None:
    """XOR one bit of one native sample (little-endian transfer syntax) in place."""
    assert ds.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")
    w = ds.BitsAllocated // 8
    spp = ds.SamplesPerPixel
    idx = ((frame * ds.Rows + row) * ds.Columns + col) * spp
    data = bytearray(ds.PixelData)
    data[idx * w + bit // 8] ^= 1 << (bit % 8)
    ds.PixelData = bytes(data)


def _changed_samples(a: Path, b: Path) -> int:
    pa, pb = ref.pixels(a), ref.pixels(b)
    assert pa.shape == pb.shape
    return int(np.count_nonzero(pa != pb))


# ------------------------------------------------------------------ (a) ------

@pytest.mark.parametrize("source,frame", [(s, 0) for s in SOURCES] + [(MULTIFRAME, 7)])
def test_one_pixel_changed(source, frame, tmp_path):
    base, ds = _roundtrip(source, tmp_path)
    _flip_sample(ds, frame, ds.Rows // 2, ds.Columns // 3, bit=0)
    edited = _write(ds, tmp_path / f"pixel-{source}")
    assert _changed_samples(base, edited) == 1, "pydicom: the edit should change one sample"
    rec_b, rec_x = cli.digest([base, edited])
    assert rec_x["pixel_digest"] != rec_b["pixel_digest"], "a changed pixel must change pixel_digest"
    assert cli.frame_diff(rec_b, rec_x) == [frame], (
        f"expected only frame {frame}'s digest to change, got frames {cli.frame_diff(rec_b, rec_x)}")
    assert rec_x["descriptor"] == rec_b["descriptor"]
    _expect_only(rec_b, rec_x, "pixel edit")


def test_bits_above_high_bit_are_ignored(tmp_path):
    """C4.2.3: samples are masked to Bits Stored; bit 15 of a 12-bit sample is not pixel content."""
    base, ds = _roundtrip(HIGH_BITS, tmp_path)
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 12, 11)
    _flip_sample(ds, 0, 10, 10, bit=15)
    high = _write(ds, tmp_path / "bit15.dcm")
    ds = ref.read(base)
    _flip_sample(ds, 0, 10, 10, bit=0)
    low = _write(ds, tmp_path / "bit0.dcm")
    rec_b, rec_h, rec_l = cli.digest([base, high, low])
    assert rec_h["pixel_digest"] == rec_b["pixel_digest"], "flipping bit 15 (above High Bit 11) changed the digest"
    assert rec_l["pixel_digest"] != rec_b["pixel_digest"], "flipping bit 0 did not change the digest"


# ------------------------------------------------------------------ (b) ------

@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("tag,keyword,value", [
    ("(0010,0010)", "PatientName", "CHANGED^NAME"),
    ("(0018,0050)", "SliceThickness", "9.75"),
])
def test_one_attribute_value_changed(source, tag, keyword, value, tmp_path):
    base, ds = _roundtrip(source, tmp_path)
    assert keyword in ds and str(ds.data_element(keyword).value) != value
    setattr(ds, keyword, value)
    edited = _write(ds, tmp_path / f"value-{source}")
    rec_b, rec_x = cli.digest([base, edited])
    ident = _id_of_tag(rec_b, tag)
    assert ident == tag[1:5] + tag[6:10], f"standard id of {tag} should be GGGGEEEE, got {ident!r}"
    assert ref.all_ids(ref.view_diff(ref.attribute_view(base), ref.attribute_view(edited))) == {ident}
    _expect_only(rec_b, rec_x, f"{keyword} changed", changed={ident})
    assert rec_x["pixel_digest"] == rec_b["pixel_digest"], "an attribute edit changed pixel_digest"


# ------------------------------------------------------------------ (c) ------

@pytest.mark.parametrize("source", SOURCES)
def test_one_attribute_added(source, tmp_path):
    base, ds = _roundtrip(source, tmp_path)
    assert "PatientComments" not in ds
    ds.PatientComments = "added by the scanseal interop tier"
    edited = _write(ds, tmp_path / f"added-{source}")
    rec_b, rec_x = cli.digest([base, edited])
    ident = _id_of_tag(rec_x, "(0010,4000)")
    _expect_only(rec_b, rec_x, "PatientComments added", added={ident})
    assert ident == "00104000"
    assert rec_x["pixel_digest"] == rec_b["pixel_digest"]


# ------------------------------------------------------------------ (d) ------

@pytest.mark.parametrize("source,tag,pydicom_tag", [
    ("CT_small.dcm", "(0010,0030)", 0x00100030),  # PatientBirthDate
    ("MR_small.dcm", "(0010,0030)", 0x00100030),
    ("CT_small.dcm", "(0009,1001)", 0x00091001),  # private, creator GEMS_IDEN_01 stays
], ids=["CT_small-PatientBirthDate", "MR_small-PatientBirthDate", "CT_small-private-0009,1001"])
def test_one_attribute_removed(source, tag, pydicom_tag, tmp_path):
    base, ds = _roundtrip(source, tmp_path)
    assert pydicom_tag in ds
    del ds[pydicom_tag]
    edited = _write(ds, tmp_path / f"removed-{source}")
    rec_b, rec_x = cli.digest([base, edited])
    ident = _id_of_tag(rec_b, tag)
    view_removed = ref.view_diff(ref.attribute_view(base), ref.attribute_view(edited))
    assert ref.all_ids(view_removed) == view_removed["removed"] == {ident}, (
        f"scanseal id {ident!r} for {tag}; pydicom view differences {view_removed}")
    _expect_only(rec_b, rec_x, f"{tag} removed", removed={ident})
    assert rec_x["pixel_digest"] == rec_b["pixel_digest"]


# --------------------------------------------------- private block number ----

def test_private_block_number_is_not_identity(tmp_path):
    """C5.2.1: moving a private block (0009,0010)->(0009,0030) keeps every commitment."""
    base, ds = _roundtrip("CT_small.dcm", tmp_path)
    assert ds[0x00090010].value.strip() == "GEMS_IDEN_01"
    moved = [ds[t] for t in list(ds.keys()) if t.group == 0x0009 and (t.element >> 8) == 0x10]
    assert moved
    creator = ds[0x00090010].value
    for el in moved:
        del ds[el.tag]
    del ds[0x00090010]
    ds.add_new(0x00090030, "LO", creator)
    for el in moved:
        ds.add_new(0x00090000 | 0x3000 | (el.tag.element & 0xFF), el.VR, el.value)
    edited = _write(ds, tmp_path / "moved-block.dcm")
    rec_b, rec_x = cli.digest([base, edited])
    tags_x = {a["tag"].upper() for a in rec_x["attributes"]}
    assert "(0009,3001)" in tags_x, "the edited file should carry the block at 0x30"
    _expect_only(rec_b, rec_x, "private block renumbered")
    assert rec_x["pixel_digest"] == rec_b["pixel_digest"]
