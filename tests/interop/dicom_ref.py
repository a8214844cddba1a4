"""Independent reading of DICOM files with pydicom: the reference the tier trusts.

- `pixels(path)`: decoded pixel array (no colour-space conversion);
- `attribute_view(path)`: which attributes a file has and a comparable form of
  each value, following the *selection and equality* rules of
  spec/canonical-form.md §5 (not its bytes): two files whose views are equal
  must get equal scanseal commitments, and the ids whose views differ are
  exactly the ids whose commitments must differ.

Ids use scanseal's string form: standard "GGGGEEEE"; private with creator
"GGGG,<creator>,XX"; other odd-group elements "GGGG,EEEE" (only used within this
module: these never occur in the files the tier compares).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
# C5.1.1 rules 4, 5 and 8.
EXCLUDED_TOP = {0x7FE00010, 0x7FE00008, 0x7FE00009, 0x7FE00001, 0x7FE00002,
                0xFFFAFFFA, 0x4FFE0001, 0xFFFCFFFC}
DESCRIPTOR_TAGS = {0x00280002, 0x00280004, 0x00280006, 0x00280008, 0x00280010,
                   0x00280011, 0x00280100, 0x00280101, 0x00280102, 0x00280103}
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST",
            "TM", "UC", "UI", "UR", "UT"}
SINGLE_VALUED_TEXT = {"LT", "ST", "UT", "UR"}
STRIP_BOTH = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "SH", "TM"}
SWAP_UNIT = {**{vr: 2 for vr in ("AT", "OW", "SS", "US")},
             **{vr: 4 for vr in ("OF", "OL", "FL", "SL", "UL")},
             **{vr: 8 for vr in ("FD", "OD", "SV", "UV", "OV")}}
SCANSEAL_CREATOR = "SCANSEAL 1"


def read(path: Path | str, **kw) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(str(path), **kw)


def transfer_syntax(path: Path | str) -> str:
    ds = read(path, stop_before_pixels=True)
    return str(ds.file_meta.TransferSyntaxUID)


def pixels(path: Path | str) -> np.ndarray:
    """Decoded pixels as pydicom gives them, without YCbCr->RGB conversion.

    Decodes from a read Dataset: pixel_array(path) does not inflate Deflated
    Explicit VR Little Endian files (pydicom 3.0.2)."""
    ds = read(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.pixels.pixel_array(ds, raw=True)


def same_pixels(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shape and equal values (byte order of the dtype does not matter)."""
    return a.shape == b.shape and np.array_equal(a, b)


def pixel_key(arr: np.ndarray) -> tuple:
    """Hashable key of a pixel array, independent of the dtype's byte order."""
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return (arr.shape, arr.dtype.kind, arr.dtype.itemsize, np.ascontiguousarray(le).tobytes())


def fragment_count(path: Path | str) -> int | None:
    """Number of pixel-data fragments (Basic Offset Table not counted); None if native."""
    ds = read(path)
    if not ds.file_meta.TransferSyntaxUID.is_encapsulated:
        return None
    from pydicom.encaps import generate_fragments

    # generate_fragments yields every item, the Basic Offset Table first.
    return len(list(generate_fragments(ds.PixelData))) - 1


# --------------------------------------------------------------- attributes --

def _strip_text(vr: str, s: str) -> str:
    s = s.rstrip("\x00")
    if vr in STRIP_BOTH:
        return s.strip(" ")
    return s.rstrip(" ")


def _text_value(elem: DataElement) -> tuple:
    vr = elem.VR
    v = elem.value
    if v is None or v == "" or v == b"":
        return ("text",)
    if isinstance(v, bytes):  # undecodable / unconverted
        return ("raw", v)
    if vr in SINGLE_VALUED_TEXT:
        items = [str(v)]
    elif isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        items = [str(x) for x in v]
    else:
        items = [str(v)]
    return ("text", *[_strip_text(vr, x) for x in items])


def _octets(raw: RawDataElement, vr: str) -> bytes:
    b = raw.value or b""
    if not raw.is_little_endian:
        unit = SWAP_UNIT.get(vr)
        if unit:
            b = b"".join(b[i:i + unit][::-1] for i in range(0, len(b), unit))
    return b


def _view(ds: Dataset, top: bool) -> dict[str, object]:
    has_pixels = top and any(t in ds for t in PIXEL_TAGS)
    creators: dict[tuple[int, int], str] = {}
    for tag in ds.keys():
        if tag.is_private and 0x0010 <= tag.element <= 0x00FF:
            v = ds[tag].value
            if isinstance(v, bytes):
                v = v.decode("latin-1")
            creators[(tag.group, tag.element)] = str(v).strip(" ").rstrip("\x00")
    out: dict[str, object] = {}
    for tag in sorted(ds.keys()):
        g, e = tag.group, tag.element
        if g == 0x0002 and top:  # rule 1
            continue
        if e == 0x0000 or tag == 0x00080005:  # rules 2, 3
            continue
        if top and tag in EXCLUDED_TOP:  # rules 4, 5
            continue
        if has_pixels and tag in DESCRIPTOR_TAGS:  # rule 8
            continue
        if tag.is_private and 0x0010 <= e <= 0x00FF:  # rule 6
            continue
        if tag.is_private:
            creator = creators.get((g, e >> 8)) if e >= 0x1000 else None
            if creator == SCANSEAL_CREATOR:  # rule 7
                continue
            ident = f"{g:04X},{creator},{e & 0xFF:02X}" if creator is not None else f"{g:04X},{e:04X}"
        else:
            ident = f"{g:04X}{e:04X}"
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement):
            vr = raw.VR or (dictionary_VR(tag) if not tag.is_private and _known(tag) else "UN")
            if not tag.is_private and vr == "UN" and _known(tag):
                vr = dictionary_VR(tag)
        else:
            vr = raw.VR
        if isinstance(raw, DataElement) and isinstance(raw.value, Sequence) or vr == "SQ":
            elem = ds[tag]
            out[ident] = ("seq", tuple(tuple(sorted(_view(item, False).items())) for item in elem.value))
        elif not tag.is_private and vr.split(" ")[0] in TEXT_VRS:
            out[ident] = _text_value(ds[tag])
        elif isinstance(raw, RawDataElement):
            out[ident] = ("octets", _octets(raw, vr.split(" ")[0]))
        elif raw.value is None or raw.value in ("", b"", []):
            # pydicom hands out zero-length elements already converted
            out[ident] = ("octets", b"")
        else:  # already converted (only happens for elements pydicom parsed eagerly)
            out[ident] = ("value", repr(raw.value))
    return out


def _known(tag) -> bool:
    try:
        dictionary_VR(tag)
        return True
    except KeyError:
        return False


def attribute_view(path: Path | str) -> dict[str, object]:
    """Top-level canonical attributes of a file: id -> comparable value."""
    return _view(read(path), top=True)


def view_diff(a: dict, b: dict) -> dict[str, set[str]]:
    return {
        "added": set(b) - set(a),
        "removed": set(a) - set(b),
        "changed": {k for k in set(a) & set(b) if a[k] != b[k]},
    }


def all_ids(diff: dict[str, set[str]]) -> set[str]:
    return diff["added"] | diff["removed"] | diff["changed"]
