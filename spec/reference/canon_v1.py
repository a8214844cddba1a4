#!/usr/bin/env python3
"""Independent reference implementation of the scanseal canonical form `canon-v1`.

Written from `spec/canonical-form.md` only (not from the Rust code in `crates/canon`).
Python 3.11, standard library only.

Scope: the *byte-level* rules of the spec.  DICOM Part 10 parsing (§2, §3 transfer syntax
selection, §4.4 fragment assignment, codecs) is out of scope: callers hand in already-parsed
elements (group, element, VR, raw value octets as stored) and native pixel element values.

Every function cites the rule it implements (`C<section>.<n>` or the § number).

Command line:
    python3 spec/reference/canon_v1.py generate spec/vectors/canon/
    python3 spec/reference/canon_v1.py check    spec/vectors/canon/
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import sys
from dataclasses import dataclass
from typing import Callable, Optional

# ─────────────────────────────────────────────────────────────────────────────
# Errors (§8)
# ─────────────────────────────────────────────────────────────────────────────

#: Error kinds of §8 (the reference implementation's names).
ERROR_KINDS = {
    "Io", "NotDicom", "Parse", "UnsupportedTransferSyntax", "MissingPixelAttribute",
    "BadPixelAttribute", "PixelDataTooShort", "FramesNotDelimited", "Decode",
    "DecodedFrameSize", "BadValueLength", "DuplicateAttribute", "MultiplePixelElements",
    "TooLarge",
}


class CanonError(Exception):
    """An input the canonical form cannot be produced for (§8). `kind` is a §8 error kind."""

    def __init__(self, kind: str, message: str):
        assert kind in ERROR_KINDS, kind
        super().__init__(f"{kind}: {message}")
        self.kind = kind


# ─────────────────────────────────────────────────────────────────────────────
# §1 Notation and primitive encodings
# ─────────────────────────────────────────────────────────────────────────────

def u8(x: int) -> bytes:
    """§1 `u8(x)`: one byte."""
    return struct.pack("<B", x)


def u16(x: int) -> bytes:
    """§1 `u16(x)`: unsigned 16-bit little-endian."""
    return struct.pack("<H", x)


def u32(x: int) -> bytes:
    """§1 `u32(x)`: unsigned 32-bit little-endian."""
    return struct.pack("<I", x)


def u64(x: int) -> bytes:
    """§1 `u64(x)`: unsigned 64-bit little-endian."""
    return struct.pack("<Q", x)


def bytes_(b: bytes) -> bytes:
    """§1 `bytes(b) = u32(len(b)) ‖ b`; a length ≥ 2³² is an error."""
    if len(b) >= 1 << 32:
        raise CanonError("TooLarge", "byte string of length >= 2^32")
    return u32(len(b)) + b


def str_(s: str) -> bytes:
    """§1 `str(s) = bytes(UTF-8(s))`."""
    return bytes_(s.encode("utf-8"))


def sha256(*parts: bytes) -> bytes:
    """§1 SHA-256 (FIPS 180-4) over the concatenation of `parts`."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


# §1 domain-separation prefixes: ASCII including one terminating NUL byte.
TILE_PREFIX = b"scanseal:canon-v1:tile\x00"
ENCODED_FRAME_PREFIX = b"scanseal:canon-v1:encoded-frame\x00"
PIXEL_PREFIX = b"scanseal:canon-v1:pixel\x00"
ATTRIBUTE_PREFIX = b"scanseal:canon-v1:attribute\x00"
SALT_PREFIX = b"scanseal:canon-v1:salt\x00"


def mth(leaves: list[bytes]) -> bytes:
    """§1 `MTH(D)`: Merkle Tree Hash of RFC 9162 §2.1.1.

    MTH({}) = SHA-256(); MTH({d}) = SHA-256(0x00 ‖ d); for n > 1 with k the largest power of
    two smaller than n: MTH(D) = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n])).
    """
    n = len(leaves)
    if n == 0:
        return sha256()
    if n == 1:
        return sha256(b"\x00", leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01", mth(leaves[:k]), mth(leaves[k:]))


#: Published Certificate Transparency (RFC 6962 = RFC 9162 §2.1.1) reference data: the tree
#: heads over the first n of these leaves.  Used by `check` as an external cross-check of `mth`.
CT_REFERENCE_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                       "606162636465666768696a6b6c6d6e6f"]
CT_REFERENCE_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# ─────────────────────────────────────────────────────────────────────────────
# §4.1 Descriptor
# ─────────────────────────────────────────────────────────────────────────────

SAMPLE_FORMAT_INTEGER, SAMPLE_FORMAT_FLOAT32, SAMPLE_FORMAT_FLOAT64 = 0, 1, 2


@dataclass
class Descriptor:
    """C4.1.1 pixel descriptor (already read from the data set)."""
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    high_bit: int
    pixel_representation: int
    photometric_interpretation: str
    number_of_frames: int
    sample_format: int

    @staticmethod
    def from_json(d: dict) -> "Descriptor":
        return Descriptor(**{k: d[k] for k in Descriptor.__dataclass_fields__})


def validate_descriptor(d: Descriptor) -> Descriptor:
    """C4.1.1 constraints; returns the descriptor with the float fields normalised.

    Every violated constraint is reported as `BadPixelAttribute` (the attribute is present
    here by construction, so `MissingPixelAttribute` cannot arise).
    """
    def bad(msg: str) -> CanonError:
        return CanonError("BadPixelAttribute", msg)

    if d.rows < 1:
        raise bad("rows must be >= 1")
    if d.columns < 1:
        raise bad("columns must be >= 1")
    if d.samples_per_pixel < 1:
        raise bad("samples_per_pixel must be >= 1")
    if d.number_of_frames < 1:
        raise bad("number_of_frames must be >= 1")
    pi = d.photometric_interpretation.rstrip(" ")  # C4.1.1: trailing spaces removed
    if d.sample_format == SAMPLE_FORMAT_INTEGER:
        if d.bits_allocated not in (1, 8, 16, 32):
            raise bad("integer bits_allocated must be 1, 8, 16 or 32")
        if not 1 <= d.bits_stored <= d.bits_allocated:
            raise bad("bits_stored must satisfy 1 <= bits_stored <= bits_allocated")
        if not d.bits_stored - 1 <= d.high_bit <= d.bits_allocated - 1:
            raise bad("high_bit must satisfy bits_stored-1 <= high_bit <= bits_allocated-1")
        if d.pixel_representation not in (0, 1):
            raise bad("pixel_representation must be 0 or 1")
        if d.bits_allocated == 1 and d.bits_stored != 1:
            raise bad("1-bit images must have bits_stored 1")
        return Descriptor(d.rows, d.columns, d.samples_per_pixel, d.bits_allocated,
                          d.bits_stored, d.high_bit, d.pixel_representation, pi,
                          d.number_of_frames, d.sample_format)
    if d.sample_format in (SAMPLE_FORMAT_FLOAT32, SAMPLE_FORMAT_FLOAT64):
        ba = 32 if d.sample_format == SAMPLE_FORMAT_FLOAT32 else 64
        if d.bits_allocated != ba:
            raise bad(f"float pixel data requires bits_allocated {ba}")
        # C4.1.1: float: bits_stored := bits_allocated, high_bit := bits_allocated-1, pr := 0.
        return Descriptor(d.rows, d.columns, d.samples_per_pixel, ba, ba, ba - 1, 0, pi,
                          d.number_of_frames, d.sample_format)
    raise bad("sample_format must be 0, 1 or 2")


def desc_bytes(d: Descriptor) -> bytes:
    """C4.1.3 `DESC`."""
    return (u32(d.rows) + u32(d.columns) + u32(d.samples_per_pixel) + u32(d.bits_allocated)
            + u32(d.bits_stored) + u32(d.high_bit) + u32(d.pixel_representation)
            + str_(d.photometric_interpretation) + u32(d.number_of_frames)
            + u8(d.sample_format))


# ─────────────────────────────────────────────────────────────────────────────
# §4.2 Canonical samples (native pixel data)
# ─────────────────────────────────────────────────────────────────────────────

def sample_width(bits_allocated: int) -> int:
    """C4.2.2 sample width `w` in bytes."""
    return {1: 1, 8: 1, 16: 2, 32: 4, 64: 8}[bits_allocated]


def canonical_sample(d: Descriptor, raw: int) -> bytes:
    """C4.2.3 masking (integers) / bit pattern (floats), written little-endian in `w` bytes (C4.2.2)."""
    w = sample_width(d.bits_allocated)
    if d.sample_format == SAMPLE_FORMAT_INTEGER:
        s = d.high_bit + 1 - d.bits_stored
        raw = (raw >> s) & ((1 << d.bits_stored) - 1)
    return raw.to_bytes(w, "little")


def native_frame_samples(d: Descriptor, pixel_data: bytes, byte_order: str,
                         planar_configuration: int, pixel_vr: Optional[str] = None) -> list[bytes]:
    """C4.2.4 (with C4.2.1–C4.2.3): each frame's canonical samples from a native pixel value.

    `byte_order` is "little" (Little Endian transfer syntaxes) or "big" (Explicit VR Big
    Endian: each sample is `w` bytes big-endian).  1-bit samples are packed LSB first, frames
    not byte-aligned.  Bytes after the last frame are ignored.
    """
    d = validate_descriptor(d)
    if byte_order not in ("little", "big"):
        raise ValueError("byte_order must be 'little' or 'big'")
    if planar_configuration not in (0, 1):
        # Not specified by canon-v1 (only "absent or 0" and "1" are defined).
        raise CanonError("BadPixelAttribute", "planar configuration must be 0 or 1")
    w = sample_width(d.bits_allocated)
    if pixel_vr is None:
        pixel_vr = "OW" if d.bits_allocated > 8 else "OB"
    if byte_order == "big" and pixel_vr == "OW" and w == 1:
        # C4.2.4: an OW value is 16-bit words; in big endian 8-bit samples and 1-bit data
        # arrive byte-swapped in pairs.  Swap them back, then read as little endian.
        swapped = bytearray(pixel_data)
        for i in range(0, len(swapped) - 1, 2):
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        pixel_data, byte_order = bytes(swapped), "little"
    spp = d.samples_per_pixel
    npix = d.rows * d.columns
    per_frame = npix * spp
    total = per_frame * d.number_of_frames
    if d.bits_allocated == 1:
        needed = (total + 7) // 8
    else:
        needed = total * w
    if len(pixel_data) < needed:
        raise CanonError("PixelDataTooShort",
                         f"pixel data has {len(pixel_data)} bytes, frames need {needed}")

    def raw_sample(index: int) -> int:
        """Unsigned value of stored sample number `index` (counted over the whole value)."""
        if d.bits_allocated == 1:
            return (pixel_data[index >> 3] >> (index & 7)) & 1
        return int.from_bytes(pixel_data[index * w:(index + 1) * w], byte_order)

    planar = planar_configuration == 1 and spp > 1
    frames = []
    for f in range(d.number_of_frames):
        start = f * per_frame
        out = bytearray()
        for p in range(npix):                      # C4.2.1: row, column ...
            for s in range(spp):                   # ... sample-in-pixel (interleaved)
                stored = s * npix + p if planar else p * spp + s
                out += canonical_sample(d, raw_sample(start + stored))
        frames.append(bytes(out))
    return frames


# ─────────────────────────────────────────────────────────────────────────────
# §4.3 Tiles and frame digests
# ─────────────────────────────────────────────────────────────────────────────

def tile_digests(d: Descriptor, f: int, frame_samples: bytes, tile_size: int) -> list[bytes]:
    """C4.3.1 tiling + C4.3.2 `TILE(f, i, j)`, in row-major tile order (C4.3.3)."""
    if not 1 <= tile_size <= 65535:
        raise ValueError("tile size must be 1..65535 (C4.3.1)")
    w = sample_width(d.bits_allocated)
    pixel_bytes = d.samples_per_pixel * w
    row_bytes = d.columns * pixel_bytes
    assert len(frame_samples) == d.rows * row_bytes
    out = []
    for j in range(math.ceil(d.rows / tile_size)):          # tile row
        for i in range(math.ceil(d.columns / tile_size)):   # tile column
            x, y = i * tile_size, j * tile_size
            width = min(tile_size, d.columns - x)
            height = min(tile_size, d.rows - y)
            s = b"".join(
                frame_samples[r * row_bytes + x * pixel_bytes:
                              r * row_bytes + (x + width) * pixel_bytes]
                for r in range(y, y + height))
            out.append(sha256(TILE_PREFIX, u32(f), u32(x), u32(y), u32(width), u32(height), s))
    return out


def frame_digest(tiles: list[bytes]) -> bytes:
    """C4.3.3 `FRAME(f) = MTH(tile digests)`."""
    return mth(tiles)


# ─────────────────────────────────────────────────────────────────────────────
# §4.5 Encoded frames, §4.6 Pixel digest
# ─────────────────────────────────────────────────────────────────────────────

def encoded_unit_digest(u: int, fragments: list[bytes]) -> bytes:
    """C4.5.2 `ENCODED(u) = SHA-256(ENCODED_FRAME_PREFIX ‖ u32(u) ‖ u64(L) ‖ B)`."""
    b = b"".join(fragments)
    return sha256(ENCODED_FRAME_PREFIX, u32(u), u64(len(b)), b)


MODE_DECODED_SAMPLES, MODE_ENCODED_FRAMES = 1, 2


def pixel_digest(d: Descriptor, mode: int, tile_size: int, frame_digests: list[bytes]) -> bytes:
    """C4.6.1 `PIXEL_DIGEST = SHA-256(PIXEL_PREFIX ‖ DESC ‖ u8(M) ‖ u32(T) ‖ u32(K) ‖ R)`."""
    if mode == MODE_ENCODED_FRAMES:
        tile_size = 0  # C4.5.2: encoded mode records T = 0
    return sha256(PIXEL_PREFIX, desc_bytes(d), u8(mode), u32(tile_size),
                  u32(len(frame_digests)), mth(frame_digests))


@dataclass
class NativePixelResult:
    desc: bytes
    frame_samples: list[bytes]
    tile_digests: list[list[bytes]]
    frame_digests: list[bytes]
    pixel_digest: bytes


def native_pixel_digest(d: Descriptor, pixel_data: bytes, byte_order: str,
                        planar_configuration: int, tile_size: int = 64, pixel_vr: Optional[str] = None) -> NativePixelResult:
    """§4.2, §4.3, §4.6 for mode `decoded-samples` from native pixel data."""
    d = validate_descriptor(d)
    frames = native_frame_samples(d, pixel_data, byte_order, planar_configuration, pixel_vr)
    tiles = [tile_digests(d, f, s, tile_size) for f, s in enumerate(frames)]
    fds = [frame_digest(t) for t in tiles]
    return NativePixelResult(desc_bytes(d), frames, tiles, fds,
                             pixel_digest(d, MODE_DECODED_SAMPLES, tile_size, fds))


# ─────────────────────────────────────────────────────────────────────────────
# §5.2 Attribute identity and order
# ─────────────────────────────────────────────────────────────────────────────

def clean_creator(creator: str) -> str:
    """C5.2.1: creator text with leading and trailing spaces and trailing NULs removed.

    Assumption (spec order unspecified): trailing NULs first, then leading/trailing spaces,
    as in C5.3.2 ("trailing NUL characters are removed, then padding spaces").
    """
    return creator.rstrip("\x00 ").lstrip(" ")


def attribute_id(group: int, element: int, creator: Optional[str]) -> bytes:
    """C5.2.1 `ID`.

    `creator` is the decoded text of the private creator element (group, 0x00BB) of the same
    data set, or None when there is no such element.
    """
    if group % 2 == 0:
        return u8(1) + u16(group) + u16(element)
    if element >= 0x1000 and creator is not None:
        return u8(2) + u16(group) + str_(clean_creator(creator)) + u8(element & 0xFF)
    return u8(3) + u16(group) + u16(element)


def id_kind(id_: bytes) -> int:
    return id_[0]


def canonical_sort_key(id_: bytes) -> tuple:
    """C5.2.3 canonical order: by group; within a group kind 1, then kind 2 by the creator's
    UTF-8 bytes (lexicographic) then `xx`, then kind 3 by element."""
    kind = id_[0]
    group = struct.unpack_from("<H", id_, 1)[0]
    if kind == 2:
        n = struct.unpack_from("<I", id_, 3)[0]
        creator = id_[7:7 + n]
        xx = id_[7 + n]
        return (group, kind, creator, xx)
    element = struct.unpack_from("<H", id_, 3)[0]
    return (group, kind, b"", element)


# ─────────────────────────────────────────────────────────────────────────────
# §5.3 Canonical values
# ─────────────────────────────────────────────────────────────────────────────

#: §5.3 byte-swap unit per VR for Explicit VR Big Endian.
SWAP_UNIT = {
    "AT": 2, "OW": 2, "SS": 2, "US": 2,
    "OF": 4, "OL": 4, "FL": 4, "SL": 4, "UL": 4,
    "FD": 8, "OD": 8, "SV": 8, "UV": 8, "OV": 8,
}


def to_little_endian(vr: str, value: bytes, byte_order: str) -> bytes:
    """§5.3 preamble: bring a value to little-endian octets.

    Big endian: swap per unit for the VRs of SWAP_UNIT; a length not a multiple of the unit
    is `BadValueLength`.  Assumption: the length check applies only where a swap is done (the
    sentence is about Explicit VR Big Endian); little-endian values are taken as stored.
    """
    if byte_order == "little":
        return value
    unit = SWAP_UNIT.get(vr)
    if unit is None:
        return value
    if len(value) % unit:
        raise CanonError("BadValueLength",
                         f"VR {vr} value length {len(value)} is not a multiple of {unit}")
    return b"".join(value[i:i + unit][::-1] for i in range(0, len(value), unit))


#: C5.3.1 class-1 VRs.
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
            "UC", "UI", "UR", "UT"}
#: C5.3.2 single-valued text VRs (no split at backslash).
SINGLE_VALUED_TEXT_VRS = {"LT", "ST", "UT", "UR"}
#: C5.3.2 VRs with only trailing padding spaces removed.
TRAILING_SPACE_VRS = {"PN", "LT", "ST", "UT", "UR", "UC"}
#: C5.3.2 VRs with leading and trailing padding spaces removed.
BOTH_SPACE_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "SH", "TM"}
#: C5.3.3 VRs decoded with the character set in effect; other text VRs are ISO-8859-1.
CHARSET_VRS = {"SH", "LO", "UC", "ST", "LT", "UT", "PN"}


def _decode_iso_ir_13(raw: bytes) -> str:
    """ISO_IR 13 (JIS X 0201) single-byte: G0 taken as ASCII (assumption: 0x5C is the
    backslash delimiter, 0x7E tilde), G1 0xA1–0xDF → half-width katakana U+FF61–U+FF9F;
    other bytes ≥ 0x80 are invalid."""
    out = []
    for b in raw:
        if b < 0x80:
            out.append(chr(b))
        elif 0xA1 <= b <= 0xDF:
            out.append(chr(0xFF61 + b - 0xA1))
        else:
            raise UnicodeDecodeError("iso_ir_13", raw, 0, 1, "byte not in JIS X 0201")
    return "".join(out)


def _codec(name: str) -> Callable[[bytes], str]:
    return lambda raw: raw.decode(name, errors="strict")


#: C5.3.3 supported single-valued Specific Character Set terms → decoder.
#: The default repertoire (ISO_IR 6, absent, empty) is decoded as ISO-8859-1 (all 256 bytes
#: valid, 0x80–0x9F → U+0080–U+009F; *not* windows-1252).
CHARSETS: dict[str, Callable[[bytes], str]] = {
    "ISO_IR 6": _codec("latin-1"),
    "ISO_IR 13": _decode_iso_ir_13,
    "ISO_IR 100": _codec("latin-1"),
    "ISO_IR 101": _codec("iso8859_2"),
    "ISO_IR 109": _codec("iso8859_3"),
    "ISO_IR 110": _codec("iso8859_4"),
    "ISO_IR 126": _codec("iso8859_7"),
    "ISO_IR 127": _codec("iso8859_6"),
    "ISO_IR 138": _codec("iso8859_8"),
    "ISO_IR 144": _codec("iso8859_5"),
    "ISO_IR 166": _codec("tis_620"),
    "ISO_IR 148": _codec("iso8859_9"),
    "ISO_IR 203": _codec("iso8859_15"),
    "ISO_IR 192": _codec("utf-8"),
    "GB18030": _codec("gb18030"),
    "GBK": _codec("gb18030"),  # C5.3.3: the WHATWG gbk decoder is the gb18030 decoder
}


def charset_decoder(specific_character_set: Optional[str]) -> Optional[Callable[[bytes], str]]:
    """C5.3.3: the decoder for the character set in effect, or None when the value is
    multi-valued or not in the list (→ class 2 for the charset VRs).

    `specific_character_set` is the (0008,0005) value as text (None = absent).  It is a CS
    value: split at backslash, each value trimmed of NULs/spaces (C5.3.2 for CS).
    """
    if specific_character_set is None:
        return CHARSETS["ISO_IR 6"]
    values = [v.rstrip("\x00").strip(" ") for v in specific_character_set.split("\\")]
    if len(values) > 1:
        return None  # multi-valued: ISO 2022 code extensions
    term = values[0]
    if term == "":
        return CHARSETS["ISO_IR 6"]
    return CHARSETS.get(term)


def text_values(vr: str, text: str) -> list[str]:
    """C5.3.2: split (multi-valued VRs) and remove padding from each value."""
    if text == "":
        return []  # a zero-length element has n = 0 values
    parts = [text] if vr in SINGLE_VALUED_TEXT_VRS else text.split("\\")
    out = []
    for v in parts:
        v = v.rstrip("\x00 ")                 # trailing NULs and spaces, any mix, every VR
        if vr in BOTH_SPACE_VRS:
            v = v.lstrip(" ")                 # then leading spaces for these VRs
        out.append(v)
    return out


def decode_text(vr: str, raw: bytes, specific_character_set: Optional[str]) -> Optional[str]:
    """C5.3.3: decode a class-1 value; None when it is undecodable (→ class 2)."""
    if vr in CHARSET_VRS:
        dec = charset_decoder(specific_character_set)
        if dec is None:
            return None
    else:
        dec = CHARSETS["ISO_IR 6"]  # other VRs: ISO-8859-1
    try:
        return dec(raw)
    except UnicodeDecodeError:
        return None


def text_value_v(vr: str, raw: bytes, specific_character_set: Optional[str]) -> bytes:
    """C5.3.1 class 1 (`u8(1) ‖ u32(n) ‖ str(v₁) ‖ …`) or class 2 (`u8(2) ‖ bytes(raw)`)."""
    text = decode_text(vr, raw, specific_character_set)
    if text is None:
        return u8(2) + bytes_(raw)
    values = text_values(vr, text)
    return u8(1) + u32(len(values)) + b"".join(str_(v) for v in values)


def octets_value_v(le_octets: bytes) -> bytes:
    """C5.3.1 class 3: `u8(3) ‖ bytes(little-endian octets)`."""
    return u8(3) + bytes_(le_octets)


def sequence_value_v(items: list[bytes]) -> bytes:
    """C5.3.1 class 4: `u8(4) ‖ u32(number of items) ‖ ITEM₁ ‖ …`."""
    return u8(4) + u32(len(items)) + b"".join(items)


# ─── elements, data sets and items ──────────────────────────────────────────
#
# An element is a dict: {"group": int, "element": int, "vr": str, "value": bytes}
# or, for VR SQ, {"group", "element", "vr": "SQ", "items": [[element, ...], ...]}.
# A value marked {"undefined_length": True, "items": [...]} with VR UN is a private UN of
# undefined length already parsed as a sequence (C5.3.4).

ITEM_TAG = (0xFFFE, 0xE000)
ITEM_DELIM_TAG = (0xFFFE, 0xE00D)
SEQ_DELIM_TAG = (0xFFFE, 0xE0DD)
UNDEFINED_LENGTH = 0xFFFFFFFF


def is_private_creator(group: int, element: int) -> bool:
    """C5.1.1 rule 6: (gggg,0010)–(gggg,00FF) of odd groups."""
    return group % 2 == 1 and 0x0010 <= element <= 0x00FF


def parse_implicit_items(buf: bytes) -> Optional[list[list[dict]]]:
    """C5.3.4: parse `buf` completely as a list of items in Implicit VR Little Endian,
    starting with an Item tag; None if it does not parse completely.

    Nested elements get VR "UN" (private) or "?" (standard: the VR would come from the data
    dictionary, which this reference does not carry); creators get "LO" (dictionary VR).
    """
    def tag_at(pos: int) -> tuple[int, int, int]:
        g, e, n = struct.unpack_from("<HHI", buf, pos)
        return g, e, n

    def parse_elements(pos: int, end: Optional[int]) -> tuple[list[dict], int]:
        """Elements until `end` (defined-length item) or an item delimiter (end=None)."""
        elems = []
        while True:
            if end is not None and pos == end:
                return elems, pos
            if pos + 8 > (len(buf) if end is None else end):
                raise ValueError("truncated")
            g, e, n = tag_at(pos)
            pos += 8
            if end is None and (g, e) == ITEM_DELIM_TAG:
                if n != 0:
                    raise ValueError("item delimiter with length")
                return elems, pos
            if g == 0xFFFE:
                raise ValueError("delimiter inside item")
            if n == UNDEFINED_LENGTH:
                items, pos = parse_items(pos, None)
                elems.append({"group": g, "element": e, "vr": "UN" if g % 2 else "SQ",
                              "undefined_length": True, "items": items})
            else:
                limit = len(buf) if end is None else end
                if pos + n > limit:
                    raise ValueError("value overruns")
                vr = "LO" if is_private_creator(g, e) else ("UN" if g % 2 else "?")
                if (g, e) == (0x0008, 0x0005):
                    vr = "CS"
                elems.append({"group": g, "element": e, "vr": vr, "value": buf[pos:pos + n]})
                pos += n

    def parse_items(pos: int, end: Optional[int]) -> tuple[list[list[dict]], int]:
        """Items until `end` (defined length) or a sequence delimiter (end=None)."""
        items = []
        while True:
            if end is not None and pos == end:
                return items, pos
            if pos + 8 > len(buf):
                raise ValueError("truncated")
            g, e, n = tag_at(pos)
            pos += 8
            if end is None and (g, e) == SEQ_DELIM_TAG:
                if n != 0:
                    raise ValueError("sequence delimiter with length")
                return items, pos
            if (g, e) != ITEM_TAG:
                raise ValueError("not an item")
            if n == UNDEFINED_LENGTH:
                elems, pos = parse_elements(pos, None)
            else:
                if pos + n > (len(buf) if end is None else end):
                    raise ValueError("item overruns")
                elems, pos = parse_elements(pos, pos + n)
            items.append(elems)

    if len(buf) < 8 or struct.unpack_from("<HH", buf, 0) != ITEM_TAG:
        return None
    try:
        items, pos = parse_items(0, len(buf))
    except (ValueError, struct.error):
        return None
    return items if pos == len(buf) else None


def element_value_v(el: dict, kind: int, byte_order: str,
                    specific_character_set: Optional[str]) -> bytes:
    """C5.3.1 canonical value `V` of one element (classes 1–4), C5.3.4 for private UN."""
    vr = el["vr"]
    if vr == "SQ" or el.get("undefined_length"):
        # Class 4: VR SQ (standard or private), or private UN of undefined length (C5.3.4).
        return sequence_value_v([item_bytes(it, byte_order, specific_character_set)
                                 for it in el["items"]])
    value = el["value"]
    if kind != 1:
        # Private (kind 2 and 3) primitive elements: class 3 whatever their VR, except a
        # defined-length UN that parses completely as implicit-VR-LE items (C5.3.4).
        if vr == "UN":
            items = parse_implicit_items(value)
            if items is not None:
                return sequence_value_v([item_bytes(it, "little", specific_character_set)
                                         for it in items])
        return octets_value_v(to_little_endian(vr, value, byte_order))
    if vr == "?":
        raise NotImplementedError("standard element in an implicit-VR sequence: "
                                  "the data dictionary is needed for its VR (C2.3)")
    if vr == "UN":
        raise NotImplementedError("explicit UN on a standard element: dictionary VR needed (C2.3)")
    if vr in TEXT_VRS:
        return text_value_v(vr, value, specific_character_set)
    return octets_value_v(to_little_endian(vr, value, byte_order))


#: C5.1.1 rules 4, 5, 8 (tags excluded at the top level only).
TOP_LEVEL_EXCLUDED = {
    (0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009), (0x7FE0, 0x0001), (0x7FE0, 0x0002),
    (0xFFFA, 0xFFFA), (0x4FFE, 0x0001), (0xFFFC, 0xFFFC),
}
DESCRIPTOR_TAGS = {
    (0x0028, 0x0002), (0x0028, 0x0004), (0x0028, 0x0006), (0x0028, 0x0008), (0x0028, 0x0010),
    (0x0028, 0x0011), (0x0028, 0x0100), (0x0028, 0x0101), (0x0028, 0x0102), (0x0028, 0x0103),
}
SPECIFIC_CHARACTER_SET = (0x0008, 0x0005)
SCANSEAL_CREATOR = "SCANSEAL 1"


def canonical_attributes(elements: list[dict], byte_order: str,
                         inherited_charset: Optional[str], top_level: bool,
                         has_pixel_data: bool = False) -> list[tuple[bytes, bytes]]:
    """C5.1.1/C5.1.2 selection, C5.2.1 identity, C5.2.2 duplicates, C5.2.3 order, C5.3 values.

    Returns [(ID, V), ...] in canonical order.  `inherited_charset` is the Specific Character
    Set value in effect from the enclosing data set (None = absent); a (0008,0005) in this data
    set overrides it for this data set and nested items (C5.1.2).
    """
    charset = inherited_charset
    for el in elements:
        if (el["group"], el["element"]) == SPECIFIC_CHARACTER_SET:
            charset = el["value"].decode("latin-1")  # CS: default repertoire
    # Private creators of this data set: (group, BB) → decoded creator text (VR LO, C5.2.1).
    creators: dict[tuple[int, int], str] = {}
    for el in elements:
        if is_private_creator(el["group"], el["element"]):
            text = decode_text("LO", el["value"], charset)
            if text is None:
                # Not specified by canon-v1; see the report (ambiguity: undecodable creator).
                raise NotImplementedError("private creator value undecodable in its charset")
            creators[(el["group"], el["element"])] = text
    out = []
    seen = set()
    for el in elements:
        g, e = el["group"], el["element"]
        if top_level and (g == 0x0002 or (g, e) in TOP_LEVEL_EXCLUDED
                          or (has_pixel_data and (g, e) in DESCRIPTOR_TAGS)):
            continue  # rules 1, 4, 5, 8 (top level only)
        if e == 0x0000 or (g, e) == SPECIFIC_CHARACTER_SET or is_private_creator(g, e):
            continue  # rules 2, 3, 6
        creator = creators.get((g, e >> 8)) if g % 2 == 1 and e >= 0x1000 else None
        if creator is not None and clean_creator(creator) == SCANSEAL_CREATOR:
            continue  # rule 7
        id_ = attribute_id(g, e, creator)
        if id_ in seen:
            raise CanonError("DuplicateAttribute", f"two elements with ID {id_.hex()}")
        seen.add(id_)
        out.append((id_, element_value_v(el, id_kind(id_), byte_order, charset)))
    out.sort(key=lambda a: canonical_sort_key(a[0]))
    return out


def item_bytes(elements: list[dict], byte_order: str, inherited_charset: Optional[str]) -> bytes:
    """C5.3.1 `ITEM = u32(m) ‖ (ID₁ ‖ V₁) ‖ … ‖ (IDₘ ‖ Vₘ)`, identities within the item."""
    attrs = canonical_attributes(elements, byte_order, inherited_charset, top_level=False)
    return u32(len(attrs)) + b"".join(i + v for i, v in attrs)


# ─────────────────────────────────────────────────────────────────────────────
# §5.4 canonical attribute, §6 commitments
# ─────────────────────────────────────────────────────────────────────────────

def canonical_bytes(id_: bytes, v: bytes) -> bytes:
    """C5.4.1 canonical bytes `ID ‖ V` (canonical length = its length)."""
    return id_ + v


def commitment(salt: bytes, id_: bytes, v: bytes) -> bytes:
    """C6.2 `COMMITMENT = SHA-256(ATTRIBUTE_PREFIX ‖ salt ‖ ID ‖ V)`."""
    if len(salt) != 16:
        raise ValueError("salt must be 16 bytes (C6.2)")
    return sha256(ATTRIBUTE_PREFIX, salt, id_, v)


def derived_salt(seed: bytes, id_: bytes) -> bytes:
    """C6.3 `salt = first 16 bytes of SHA-256(SALT_PREFIX ‖ bytes(seed) ‖ ID)`."""
    return sha256(SALT_PREFIX, bytes_(seed), id_)[:16]


# ═════════════════════════════════════════════════════════════════════════════
# Test vectors (§9)
# ═════════════════════════════════════════════════════════════════════════════

def hx(b: Optional[bytes]) -> Optional[str]:
    return None if b is None else b.hex()


def unhex(s: str) -> bytes:
    return bytes.fromhex(s)


# ─── evaluation: from a vector's inputs to its expectations ─────────────────

def eval_merkle(case: dict) -> dict:
    return {"want_root": hx(mth([unhex(x) for x in case["leaves"]]))}


PIXEL_WANTS = ["want_desc", "want_frame_samples", "want_tile_digests", "want_frame_digests",
               "want_pixel_digest"]


def eval_pixels(case: dict) -> dict:
    r = native_pixel_digest(Descriptor.from_json(case["descriptor"]), unhex(case["pixel_data"]),
                            case["byte_order"], case["planar_configuration"], case["tile_size"],
                            case.get("pixel_vr"))
    return {
        "want_desc": hx(r.desc),
        "want_frame_samples": [hx(s) for s in r.frame_samples],
        "want_tile_digests": [[hx(t) for t in ts] for ts in r.tile_digests],
        "want_frame_digests": [hx(f) for f in r.frame_digests],
        "want_pixel_digest": hx(r.pixel_digest),
    }


ATTR_WANTS = ["want_id", "want_value", "want_canonical", "want_canonical_length",
              "want_commitment"]


def _attr_wants(id_: bytes, v: bytes, case: dict) -> dict:
    out = {
        "want_id": hx(id_),
        "want_value": hx(v),
        "want_canonical": hx(canonical_bytes(id_, v)),
        "want_canonical_length": len(canonical_bytes(id_, v)),
        "want_commitment": hx(commitment(unhex(case["salt"]), id_, v)),
    }
    if "seed" in case:
        out["want_derived_salt"] = hx(derived_salt(unhex(case["seed"]), id_))
    return out


def eval_attribute(case: dict) -> dict:
    """A single top-level element (plus, for kind 2, its creator given as text)."""
    g, e = case["group"], case["element"]
    id_ = attribute_id(g, e, case.get("creator"))
    el = {"group": g, "element": e, "vr": case["vr"], "value": unhex(case["value"])}
    v = element_value_v(el, id_kind(id_), case["byte_order"], case["charset"])
    return _attr_wants(id_, v, case)


def items_from_json(items: list) -> list[list[dict]]:
    def elem(j: dict) -> dict:
        el = {"group": j["group"], "element": j["element"], "vr": j["vr"]}
        if j["vr"] == "SQ":
            el["items"] = items_from_json(j["items"])
        else:
            el["value"] = unhex(j["value"])
        return el
    return [[elem(j) for j in item] for item in items]


def eval_item(case: dict) -> dict:
    """A top-level SQ element whose items are given as element lists."""
    g, e = case["group"], case["element"]
    id_ = attribute_id(g, e, case.get("creator"))
    el = {"group": g, "element": e, "vr": "SQ", "items": items_from_json(case["items"])}
    v = element_value_v(el, id_kind(id_), case["byte_order"], case["charset"])
    return _attr_wants(id_, v, case)


EVALUATORS = {"merkle": eval_merkle, "pixels": eval_pixels, "attribute": eval_attribute,
              "item": eval_item}
WANTS = {"merkle": ["want_root"], "pixels": PIXEL_WANTS, "attribute": ATTR_WANTS,
         "item": ATTR_WANTS, "file": ["want_pixel_digest", "want_frame_digests"]}


def evaluate(case: dict) -> dict:
    """All expectation fields of a case (want_err plus want_*; want_* null on error)."""
    try:
        wants = EVALUATORS[case["kind"]](case)
        return {"want_err": None, **wants}
    except CanonError as err:
        out = {"want_err": err.kind, **{k: None for k in WANTS[case["kind"]]}}
        if "seed" in case:
            out["want_derived_salt"] = None
        return out


# ─── case definitions ───────────────────────────────────────────────────────

def _salt(name: str) -> str:
    """A fixed, arbitrary 16-byte salt per case (for vectors only; real seals use a CSPRNG)."""
    return hashlib.sha256(b"scanseal vector salt:" + name.encode()).digest()[:16].hex()


def _desc(rows, columns, spp, ba, bs, hb, pr, pi, frames=1, sf=0) -> dict:
    return {"rows": rows, "columns": columns, "samples_per_pixel": spp, "bits_allocated": ba,
            "bits_stored": bs, "high_bit": hb, "pixel_representation": pr,
            "photometric_interpretation": pi, "number_of_frames": frames, "sample_format": sf}


def _pix(desc: str, descriptor: dict, data: bytes, byte_order="little", planar=0,
         tile_size=64, **extra) -> dict:
    return {"desc": desc, "kind": "pixels", "descriptor": descriptor, "byte_order": byte_order,
            "planar_configuration": planar, "tile_size": tile_size, "pixel_data": data.hex(),
            **extra}


def _pack(values: list[int], fmt: str, byte_order: str) -> bytes:
    return struct.pack(("<" if byte_order == "little" else ">") + fmt * len(values), *values)


def _pack_bits(bits: list[int], nbytes: int) -> bytes:
    """C4.2.4: eight samples to a byte, least significant bit first."""
    out = bytearray(nbytes)
    for k, b in enumerate(bits):
        if b:
            out[k >> 3] |= 1 << (k & 7)
    return bytes(out)


def _flip(data: bytes, byte: int, bit: int) -> bytes:
    b = bytearray(data)
    b[byte] ^= 1 << bit
    return bytes(b)


def _attr(desc: str, name: str, group: int, element: int, vr: str, value: bytes,
          byte_order="little", charset=None, creator=None, seed: Optional[bytes] = None,
          **extra) -> dict:
    case = {"desc": desc, "kind": "attribute", "group": group, "element": element}
    if creator is not None:
        case["creator"] = creator
    case.update({"vr": vr, "byte_order": byte_order, "charset": charset, "value": value.hex()})
    if seed is not None:
        # The salt of a seeded case is the derived salt itself (C6.3).
        case["seed"] = seed.hex()
        id_ = attribute_id(group, element, creator)
        case["salt"] = derived_salt(seed, id_).hex()
    else:
        case["salt"] = _salt(name)
    case.update(extra)
    return case


def _el(group: int, element: int, vr: str, value: bytes) -> dict:
    return {"group": group, "element": element, "vr": vr, "value": value.hex()}


def _sq(group: int, element: int, items: list) -> dict:
    return {"group": group, "element": element, "vr": "SQ", "items": items}


def _item_case(desc: str, name: str, group: int, element: int, items: list,
               charset=None, **extra) -> dict:
    return {"desc": desc, "kind": "item", "group": group, "element": element, "vr": "SQ",
            "byte_order": "little", "charset": charset, "items": items, "salt": _salt(name),
            **extra}


def build_cases() -> dict[str, dict]:
    """Every vector, by file stem.  Expectations are filled in by `evaluate`."""
    c: dict[str, dict] = {}

    # ── merkle (§1 MTH, RFC 9162) ──────────────────────────────────────────
    for n in (0, 1, 2, 3, 5, 8):
        c[f"merkle-{n}-leaves"] = {
            "desc": f"RFC 9162 MTH over the first {n} Certificate Transparency reference leaves"
                    " (roots agree with the published RFC 6962 test data)",
            "kind": "merkle", "leaves": CT_REFERENCE_LEAVES[:n]}
    c["merkle-3-digest-leaves"] = {
        "desc": "MTH over three 32-byte leaves (shape of FRAME over 3 tiles): k = 2",
        "kind": "merkle",
        "leaves": [hashlib.sha256(bytes([i])).hexdigest() for i in range(3)]}

    # ── pixels ─────────────────────────────────────────────────────────────
    # 8-bit mono 5 columns x 3 rows, tile size 2: 3x2 tiles, right column and bottom row of
    # tiles are partial (width/height 1).  Stored value is 15 bytes + 1 pad byte (even length).
    mono8_desc = _desc(3, 5, 1, 8, 8, 7, 0, "MONOCHROME2")
    mono8 = bytes((17 * i + 3) % 256 for i in range(15)) + b"\x00"
    base = "pixels-mono8-5x3-tile2"
    c[base] = _pix("8-bit MONOCHROME2, 5 columns x 3 rows, tile size 2: 6 tiles, the last tile "
                   "column 1 wide and the last tile row 1 high (C4.3.1); value = 15 samples + "
                   "1 pad byte", mono8_desc, mono8, tile_size=2)
    c[base + "-flipped-bit"] = _pix("sibling of mono8-5x3-tile2 with bit 0 of sample 7 "
                                    "(row 1, column 2) flipped: different digests",
                                    mono8_desc, _flip(mono8, 7, 0), tile_size=2,
                                    sibling_of=base, relation="different")
    c[base + "-trailing-bytes"] = _pix("sibling of mono8-5x3-tile2 with 4 extra garbage bytes "
                                       "after the last frame: ignored (C4.2.4), same digests",
                                       mono8_desc, mono8 + b"\xde\xad\xbe\xef", tile_size=2,
                                       sibling_of=base, relation="same")
    c[base + "-truncated"] = _pix("sibling of mono8-5x3-tile2 with 14 bytes where 15 are "
                                  "needed: PixelDataTooShort (C4.2.4)", mono8_desc, mono8[:14],
                                  tile_size=2, sibling_of=base, relation="error")
    c[base + "-rows-0"] = _pix("sibling of mono8-5x3-tile2 with rows = 0: BadPixelAttribute "
                               "(C4.1.1 rows >= 1)", {**mono8_desc, "rows": 0}, mono8,
                               tile_size=2, sibling_of=base, relation="error")
    mono8_be_ow = bytearray(mono8)
    for i in range(0, len(mono8_be_ow), 2):
        mono8_be_ow[i], mono8_be_ow[i + 1] = mono8_be_ow[i + 1], mono8_be_ow[i]
    c[base + "-be-ow"] = _pix("sibling of mono8-5x3-tile2 in Explicit VR Big Endian with Pixel "
                              "Data of VR OW: an OW value is 16-bit words, so the 8-bit samples "
                              "are stored byte-swapped in pairs (C4.2.4); same digests",
                              mono8_desc, bytes(mono8_be_ow), tile_size=2, byte_order="big",
                              pixel_vr="OW", sibling_of=base, relation="same")
    c[base + "-be-ob"] = _pix("sibling of mono8-5x3-tile2 in Explicit VR Big Endian with Pixel "
                              "Data of VR OB: bytes as stored (C4.2.4); same digests",
                              mono8_desc, mono8, tile_size=2, byte_order="big",
                              pixel_vr="OB", sibling_of=base, relation="same")
    c["pixels-mono8-5x3-tile64"] = _pix("same image as mono8-5x3-tile2 with the default tile "
                                        "size 64: a single 5x3 tile; the pixel digest differs "
                                        "because T is hashed (C4.6.1)", mono8_desc, mono8,
                                        tile_size=64, sibling_of=base, relation="different")
    c["pixels-mono8-5x3-tile1"] = _pix("same image with tile size 1: 15 one-pixel tiles, MTH "
                                       "over 15 leaves", mono8_desc, mono8, tile_size=1,
                                       sibling_of=base, relation="different")

    # 16-bit signed CT-like, bits stored 12, high bit 11, garbage in the 4 high bits (C4.2.3).
    ct_vals = [-2048, -1000, -1, 0, 1, 2047, 100, -100, 1234, -1234, 7, -7]  # 4 cols x 3 rows
    garbage = [0xF, 0xA, 0x0, 0x5, 0xF, 0x3, 0xC, 0x1, 0x9, 0x6, 0xE, 0x2]
    ct_raw = [((v & 0x0FFF) | (gb << 12)) for v, gb in zip(ct_vals, garbage)]
    ct_clean = [v & 0x0FFF for v in ct_vals]
    ct_sext = [v & 0xFFFF for v in ct_vals]
    ct_desc = _desc(3, 4, 1, 16, 12, 11, 1, "MONOCHROME2")
    ct = "pixels-ct16-signed-bs12-hb11"
    c[ct] = _pix("16-bit signed (pixel representation 1), bits stored 12, high bit 11, 4 columns x"
                 " 3 rows, tile size 2; the 4 high bits of each stored sample hold garbage, "
                 "masked away (C4.2.3): canonical = raw & 0x0FFF, no sign extension", ct_desc,
                 _pack(ct_raw, "H", "little"), tile_size=2)
    c[ct + "-sign-extended"] = _pix("sibling of ct16-signed-bs12-hb11 whose high bits are a "
                                    "proper sign extension instead of garbage: same digests",
                                    ct_desc, _pack(ct_sext, "H", "little"), tile_size=2,
                                    sibling_of=ct, relation="same")
    c[ct + "-zero-high-bits"] = _pix("sibling of ct16-signed-bs12-hb11 with the high bits zero:"
                                     " same digests", ct_desc, _pack(ct_clean, "H", "little"),
                                     tile_size=2, sibling_of=ct, relation="same")
    c[ct + "-be"] = _pix("sibling of ct16-signed-bs12-hb11 stored Explicit VR Big Endian (each "
                         "16-bit sample byte-swapped, C4.2.4): same digests", ct_desc,
                         _pack(ct_raw, "H", "big"), byte_order="big", tile_size=2,
                         sibling_of=ct, relation="same")
    c[ct + "-bits-stored-17"] = _pix("sibling of ct16-signed-bs12-hb11 with bits stored 17 > "
                                     "bits allocated 16: BadPixelAttribute (C4.1.1)",
                                     {**ct_desc, "bits_stored": 17, "high_bit": 15},
                                     _pack(ct_raw, "H", "little"), tile_size=2, sibling_of=ct,
                                     relation="error")
    c[ct + "-high-bit-10"] = _pix("sibling of ct16-signed-bs12-hb11 with high bit 10 < bits "
                                  "stored - 1 = 11: BadPixelAttribute (C4.1.1)",
                                  {**ct_desc, "high_bit": 10}, _pack(ct_raw, "H", "little"),
                                  tile_size=2, sibling_of=ct, relation="error")

    # bits stored 12, high bit 15: s = 4, canonical = (raw >> 4) & 0x0FFF.
    hb15_vals = [0x000, 0x001, 0x7FF, 0x800, 0xABC, 0xFFF]
    hb15_low = [0xF, 0x1, 0x8, 0x0, 0x5, 0xA]
    c["pixels-mono16-bs12-hb15"] = _pix(
        "16-bit unsigned, bits stored 12, high bit 15 (s = 4): canonical = (raw >> 4) & 0x0FFF; "
        "the 4 low bits hold garbage (C4.2.3). 3 columns x 2 rows, tile size 2",
        _desc(2, 3, 1, 16, 12, 15, 0, "MONOCHROME2"),
        _pack([(v << 4) | lo for v, lo in zip(hb15_vals, hb15_low)], "H", "little"),
        tile_size=2)

    # 32-bit signed, big endian (all four bytes reversed) and its little-endian sibling.
    i32_vals = [0x01020304, -2, 0x7FFFFFFF, -0x80000000, 0, 0x00FF00FF]
    i32_desc = _desc(2, 3, 1, 32, 32, 31, 1, "MONOCHROME2")
    c["pixels-int32-be"] = _pix("32-bit signed, bits stored 32, 3 columns x 2 rows, stored Explicit"
                                " VR Big Endian: each sample's four bytes reversed (C4.2.4); tile "
                                "size 2", i32_desc, _pack(i32_vals, "i", "big"),
                                byte_order="big", tile_size=2)
    c["pixels-int32-le"] = _pix("sibling of int32-be stored little endian: same digests",
                                i32_desc, _pack(i32_vals, "i", "little"), tile_size=2,
                                sibling_of="pixels-int32-be", relation="same")

    # RGB 8-bit 3 columns x 2 rows, planar configuration 0 and 1 (C4.2.1, C4.2.4).
    rgb = [(10 * p + s + 1) for p in range(6) for s in range(3)]   # pixel p, sample s
    rgb_planar = [rgb[p * 3 + s] for s in range(3) for p in range(6)]
    rgb_desc = _desc(2, 3, 3, 8, 8, 7, 0, "RGB")
    c["pixels-rgb8-3x2-planar0"] = _pix("RGB 8-bit, 3 columns x 2 rows, planar configuration 0 "
                                        "(interleaved), tile size 2", rgb_desc, bytes(rgb),
                                        tile_size=2)
    c["pixels-rgb8-3x2-planar1"] = _pix("the same RGB image stored with planar configuration 1 "
                                        "(R plane, G plane, B plane): canonical samples are "
                                        "interleaved (C4.2.1), same digests", rgb_desc,
                                        bytes(rgb_planar), planar=1, tile_size=2,
                                        sibling_of="pixels-rgb8-3x2-planar0", relation="same")

    # 1-bit, 3 frames of 3x3: 27 bits, frames start at bits 0, 9, 18 (not byte-aligned).
    f0 = [1, 0, 1, 0, 1, 0, 1, 0, 1]
    f1 = [1, 1, 1, 1, 0, 1, 1, 1, 1]
    f2 = [1, 0, 0, 0, 1, 0, 0, 0, 1]
    bits1_desc = _desc(3, 3, 1, 1, 1, 0, 0, "MONOCHROME2", frames=3)
    bits1 = _pack_bits(f0 + f1 + f2, 4)
    b1 = "pixels-bits1-3x3-3frames"
    c[b1] = _pix("1-bit, 3 frames of 3x3, packed LSB first, frames not byte-aligned (frame f "
                 "starts at bit 9f, C4.2.4); tile size 2; canonical samples are 1 byte each "
                 "(C4.2.2); value = 27 bits in 4 bytes", bits1_desc, bits1, tile_size=2)
    c[b1 + "-trailing-bits"] = _pix("sibling of bits1-3x3-3frames with the 5 unused bits after "
                                    "the last frame set to 1: not samples, same digests",
                                    bits1_desc, bytes(bits1[:3]) + bytes([bits1[3] | 0xF8]),
                                    tile_size=2, sibling_of=b1, relation="same")
    c[b1 + "-flipped-bit"] = _pix("sibling of bits1-3x3-3frames with bit 9 (frame 1, row 0, "
                                  "column 0) flipped: frames 0 and 2 keep their digests, frame "
                                  "1 and the pixel digest differ", bits1_desc,
                                  _flip(bits1, 1, 1), tile_size=2, sibling_of=b1,
                                  relation="different")
    c[b1 + "-truncated"] = _pix("sibling of bits1-3x3-3frames with 3 bytes where 27 bits need 4:"
                                " PixelDataTooShort", bits1_desc, bits1[:3], tile_size=2,
                                sibling_of=b1, relation="error")

    # Float pixel data (sample formats 1 and 2): bit patterns, unmasked (C4.2.3).
    f32_bits = [0x3F800000, 0x80000000, 0x7FC00001, 0x7F800000, 0xC2F6E979, 0x00000001]
    c["pixels-float32-3x2"] = _pix(
        "Float Pixel Data (sample format 1, bits allocated 32), 3 columns x 2 rows: 1.0, -0.0, a "
        "NaN with payload 1, +inf, -123.456, the smallest subnormal; IEEE bit patterns kept "
        "as is; tile size 64", _desc(2, 3, 1, 32, 32, 31, 0, "MONOCHROME2", sf=1),
        _pack(f32_bits, "I", "little"))
    f64_bits = [0x3FF0000000000000, 0x8000000000000000, 0x7FF8000000000001,
                0xFFF0000000000000, 0x400921FB54442D18, 0x0000000000000001]
    f64_desc = _desc(3, 2, 1, 64, 64, 63, 0, "MONOCHROME2", sf=2)
    c["pixels-float64-2x3"] = _pix(
        "Double Float Pixel Data (sample format 2, bits allocated 64), 2 columns x 3 rows: 1.0, "
        "-0.0, NaN with payload 1, -inf, pi, smallest subnormal; tile size 2",
        f64_desc, _pack(f64_bits, "Q", "little"), tile_size=2)
    c["pixels-float64-2x3-be"] = _pix("sibling of float64-2x3 stored big endian (8 bytes "
                                      "reversed per sample): same digests", f64_desc,
                                      _pack(f64_bits, "Q", "big"), byte_order="big",
                                      tile_size=2, sibling_of="pixels-float64-2x3",
                                      relation="same")

    # Multi-frame 16-bit, 3 frames; frame 2 equals frame 0 but has a different digest (u32(f)).
    mf0 = [0, 1, 2, 3, 4, 65535]
    mf1 = [1000, 2000, 3000, 4000, 5000, 6000]
    c["pixels-mono16-3frames"] = _pix(
        "16-bit unsigned, bits stored 16, 3 frames of 3 columns x 2 rows, tile size 2; frame 2 "
        "has the same samples as frame 0 yet a different frame digest (u32(f) in TILE, C4.3.2)",
        _desc(2, 3, 1, 16, 16, 15, 0, "MONOCHROME2", frames=3),
        _pack(mf0 + mf1 + mf0, "H", "little"), tile_size=2)

    # ── attributes ─────────────────────────────────────────────────────────
    name = "Müller^Jürgen "
    c["attribute-pn-latin1"] = _attr(
        "PN (0010,0010) under ISO_IR 100, Latin-1 bytes 'Müller^Jürgen ' (even-length pad): "
        "decoded, trailing space removed, UTF-8 in V", "attribute-pn-latin1", 0x0010, 0x0010,
        "PN", name.encode("latin-1"), charset="ISO_IR 100",
        seed=b"scanseal test seed")
    c["attribute-pn-utf8"] = _attr(
        "the same name under ISO_IR 192 (UTF-8 bytes, 'Müller^Jürgen' + pad space to even "
        "length): same V and ID as attribute-pn-latin1", "attribute-pn-utf8", 0x0010, 0x0010,
        "PN", "Müller^Jürgen".encode("utf-8") + b" ", charset="ISO_IR 192",
        seed=b"scanseal test seed", sibling_of="attribute-pn-latin1", relation="same")
    c["attribute-pn-leading-space-kept"] = _attr(
        "PN ' Doe^John ': PN removes trailing spaces only (C5.3.2), the leading space is kept",
        "attribute-pn-leading-space-kept", 0x0010, 0x0010, "PN", b" Doe^John ")
    c["attribute-ds-multi"] = _attr(
        "DS (0028,0030) '0.5\\0.5 ': two values '0.5', '0.5'; padding removed, no numeric "
        "reformatting", "attribute-ds-multi", 0x0028, 0x0030, "DS", b"0.5\\0.5 ")
    c["attribute-ds-leading-spaces"] = _attr(
        "DS ' 1.50\\ -2 ': leading and trailing spaces removed per value, '1.50' kept as written",
        "attribute-ds-leading-spaces", 0x0018, 0x0050, "DS", b" 1.50\\ -2 ")
    c["attribute-ui-trailing-nul"] = _attr(
        "UI (0008,0018) '1.2.3.4' + NUL pad: trailing NUL removed", "attribute-ui-trailing-nul",
        0x0008, 0x0018, "UI", b"1.2.3.4\x00")
    c["attribute-cs-spaces"] = _attr(
        "CS (0008,0008) ' ORIGINAL \\ PRIMARY ': two values, leading and trailing spaces removed",
        "attribute-cs-spaces", 0x0008, 0x0008, "CS", b" ORIGINAL \\ PRIMARY ")
    c["attribute-lt-leading-spaces"] = _attr(
        "LT (0020,4000) '  Leading kept\\not split ': single-valued (backslash not a delimiter),"
        " leading spaces kept, trailing space removed", "attribute-lt-leading-spaces", 0x0020,
        0x4000, "LT", b"  Leading kept\\not split ")
    c["attribute-lo-multi"] = _attr(
        "LO (0008,1090) 'A \\ B': LO is multi-valued; two values 'A', 'B'",
        "attribute-lo-multi", 0x0008, 0x1090, "LO", b"A \\ B")
    c["attribute-lo-empty"] = _attr(
        "zero-length LO (0008,1030): n = 0 values", "attribute-lo-empty", 0x0008, 0x1030, "LO",
        b"")
    c["attribute-lo-default-charset-high-bytes"] = _attr(
        "LO with bytes >= 0x80 and no Specific Character Set: the default repertoire is decoded "
        "as ISO-8859-1 (C5.3.3), so 'Caf\\xe9' is 'Café' (class 1)",
        "attribute-lo-default-charset-high-bytes", 0x0008, 0x1030, "LO", b"Caf\xe9 ")
    c["attribute-lo-latin1-c1-control"] = _attr(
        "LO under ISO_IR 100 with byte 0x80: ISO-8859-1 maps it to U+0080 (UTF-8 c2 80); a "
        "windows-1252 decoder (WHATWG label 'iso-8859-1') would give U+20AC and a different V",
        "attribute-lo-latin1-c1-control", 0x0008, 0x1030, "LO", b"A\x80", charset="ISO_IR 100")
    c["attribute-lo-charset-not-listed"] = _attr(
        "LO under Specific Character Set 'ISO_IR 999' (not in the C5.3.3 list): class 2 even "
        "though the bytes are ASCII", "attribute-lo-charset-not-listed", 0x0008, 0x1030, "LO",
        b"ASCII ", charset="ISO_IR 999")
    c["attribute-us-le"] = _attr(
        "US (0018,1310) two values 0x0102, 0x0304 little endian: class 3 octets",
        "attribute-us-le", 0x0018, 0x1310, "US", _pack([0x0102, 0x0304], "H", "little"))
    c["attribute-us-be"] = _attr(
        "the same US values stored big endian: swapped per 2-byte unit, same V",
        "attribute-us-be", 0x0018, 0x1310, "US", _pack([0x0102, 0x0304], "H", "big"),
        byte_order="big", sibling_of="attribute-us-le", relation="same")
    c["attribute-us-be-odd-length"] = _attr(
        "US stored big endian with a 3-byte value: BadValueLength (§5.3)",
        "attribute-us-be-odd-length", 0x0018, 0x1310, "US", b"\x01\x02\x03", byte_order="big")
    c["attribute-fd-be"] = _attr(
        "FD (0018,9087)-like values 1.5 and -2.25 big endian: swapped per 8-byte unit",
        "attribute-fd-be", 0x0018, 0x9087, "FD", _pack([1.5, -2.25], "d", "big"),
        byte_order="big")
    c["attribute-fd-be-length-12"] = _attr(
        "FD stored big endian with a 12-byte value: BadValueLength (§5.3)",
        "attribute-fd-be-length-12", 0x0018, 0x9087, "FD", bytes(range(12)), byte_order="big")
    c["attribute-at-be"] = _attr(
        "AT (0020,9165) value (0010,0010) stored big endian: swapped per 2-byte unit",
        "attribute-at-be", 0x0020, 0x9165, "AT", _pack([0x0010, 0x0010], "H", "big"),
        byte_order="big")
    c["attribute-ob"] = _attr(
        "OB (0042,0011)-like value: class 3, octets as stored (pad byte included)",
        "attribute-ob", 0x0042, 0x0011, "OB", b"\x00\xff\x10\x80\x7f\x00")
    c["attribute-ob-be"] = _attr(
        "the same OB value in big endian: OB is not swapped, same V", "attribute-ob-be",
        0x0042, 0x0011, "OB", b"\x00\xff\x10\x80\x7f\x00", byte_order="big",
        sibling_of="attribute-ob", relation="same")
    c["attribute-private-lo-creator"] = _attr(
        "private LO (0029,1010) in the block of creator 'ACME 1.0' (creator at (0029,0010)): "
        "ID kind 2, value class 3 (octets as stored, padding kept)",
        "attribute-private-lo-creator", 0x0029, 0x1010, "LO", b"Private text ",
        creator="ACME 1.0", seed=b"another seed")
    c["attribute-private-un-creator"] = _attr(
        "the same private element with VR UN (implicit VR) and a different block number "
        "(0029,1110), creator 'ACME 1.0' at (0029,0011): same ID and V",
        "attribute-private-un-creator", 0x0029, 0x1110, "UN", b"Private text ",
        creator="ACME 1.0", seed=b"another seed", sibling_of="attribute-private-lo-creator",
        relation="same")
    c["attribute-private-us-be"] = _attr(
        "private US (0029,1020), creator 'ACME 1.0', explicit VR Big Endian: swapped by VR "
        "(§5.3), then class 3", "attribute-private-us-be", 0x0029, 0x1020, "US",
        _pack([1, 2], "H", "big"), byte_order="big", creator="ACME 1.0")
    c["attribute-private-orphan"] = _attr(
        "private element (0029,1234) with no creator element: ID kind 3, class 3",
        "attribute-private-orphan", 0x0029, 0x1234, "LO", b"orphan")
    c["attribute-private-un-sequence"] = _attr(
        "private UN (0029,1030) of defined length whose octets parse completely as Implicit VR LE"
        " items (one item: creator (0029,0010) 'ACME', element (0029,1001) 'ab'): class 4 "
        "(C5.3.4); inside the item the element is kind 2", "attribute-private-un-sequence",
        0x0029, 0x1030, "UN",
        struct.pack("<HHI", 0xFFFE, 0xE000, 22) + struct.pack("<HHI", 0x0029, 0x0010, 4)
        + b"ACME" + struct.pack("<HHI", 0x0029, 0x1001, 2) + b"ab", creator="ACME 1.0")
    c["attribute-private-un-not-sequence"] = _attr(
        "private UN starting with an Item tag whose item length overruns the value: does not "
        "parse completely, class 3 (C5.3.4)", "attribute-private-un-not-sequence", 0x0029,
        0x1030, "UN", struct.pack("<HHI", 0xFFFE, 0xE000, 100) + b"ab", creator="ACME 1.0")
    c["attribute-lo-invalid-utf8"] = _attr(
        "LO under ISO_IR 192 with invalid UTF-8 ('Caf\\xe9 '): class 2, raw octets as stored",
        "attribute-lo-invalid-utf8", 0x0008, 0x1030, "LO", b"Caf\xe9 ", charset="ISO_IR 192")
    c["attribute-pn-iso2022"] = _attr(
        "PN under multi-valued Specific Character Set '\\ISO 2022 IR 87' (ISO 2022 code "
        "extensions): class 2, raw octets", "attribute-pn-iso2022", 0x0010, 0x0010, "PN",
        b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B",
        charset="\\ISO 2022 IR 87")

    # ── items (class 4) ────────────────────────────────────────────────────
    ref_item = [
        _el(0x0008, 0x1150, "UI", b"1.2.840.10008.5.1.4.1.1.2\x00"),
        _el(0x0008, 0x1155, "UI", b"1.2.3.4.5\x00"),
        _el(0x0029, 0x0010, "LO", b"ACME 1.0"),
        _el(0x0029, 0x1001, "LO", b"x "),
        _el(0x0029, 0x2000, "OB", b"\x01\x02"),
        _sq(0x0040, 0xA170, [[_el(0x0008, 0x0100, "SH", b"121322"),
                              _el(0x0008, 0x0102, "SH", b"DCM ")]]),
    ]
    c["item-sequence"] = _item_case(
        "SQ (0008,1140) with two items: item 0 has UI, a private block 'ACME 1.0' (element kind 2,"
        " creator excluded), an orphan private OB (kind 3) and a nested SQ; item 1 is empty",
        "item-sequence", 0x0008, 0x1140, [ref_item, []])
    c["item-sequence-reordered"] = _item_case(
        "sibling of item-sequence with the elements of item 0 listed in another order and the "
        "block at number 0x11 instead of 0x10: same V (canonical order, C5.2.3)",
        "item-sequence-reordered", 0x0008, 0x1140,
        [[ref_item[5], _el(0x0029, 0x2000, "OB", b"\x01\x02"), _el(0x0029, 0x1101, "LO", b"x "),
          ref_item[1], _el(0x0029, 0x0011, "LO", b"ACME 1.0"), ref_item[0]], []],
        sibling_of="item-sequence", relation="same")
    c["item-sequence-duplicate"] = _item_case(
        "sibling of item-sequence where item 0 has two blocks with the same creator 'ACME 1.0' "
        "((0029,0010) and (0029,0011)) each holding element xx = 01: DuplicateAttribute (C5.2.2)",
        "item-sequence-duplicate", 0x0008, 0x1140,
        [ref_item + [_el(0x0029, 0x0011, "LO", b"ACME 1.0 "), _el(0x0029, 0x1101, "LO", b"y ")],
         []], sibling_of="item-sequence", relation="error")
    c["item-exclusions"] = _item_case(
        "an item holding a group length (0008,0000), a Specific Character Set, a private creator "
        "and a 'SCANSEAL 1' block: all excluded inside items (C5.1.2 rules 2, 3, 6, 7); "
        "(7FE0,0010) and (0028,0010) are kept inside items", "item-exclusions", 0x0088, 0x0200,
        [[_el(0x0008, 0x0000, "UL", u32(26)), _el(0x0008, 0x0005, "CS", b"ISO_IR 100"),
          _el(0x0009, 0x0010, "LO", b"SCANSEAL 1"), _el(0x0009, 0x1001, "OB", b"\xaa\xbb"),
          _el(0x0028, 0x0010, "US", u16(2)), _el(0x7FE0, 0x0010, "OB", b"\x01\x02\x03\x04")]])
    c["item-creator-order"] = _item_case(
        "an item with private blocks 'B' (0029,0010) and 'AA' (0029,0011) and an element "
        "(0029,0001) below 0x1000 (kind 3): canonical order is kind 2 'AA', kind 2 'B', then kind "
        "3 (C5.2.3 compares the creator's UTF-8 bytes, so 'AA' < 'B'; sorting the ID bytes, "
        "whose str() has a length prefix, would wrongly put 'B' first)", "item-creator-order",
        0x0008, 0x1140,
        [[_el(0x0029, 0x0001, "OB", b"\x03\x03"),
          _el(0x0029, 0x0010, "LO", b"B "), _el(0x0029, 0x1005, "OB", b"\x01\x01"),
          _el(0x0029, 0x0011, "LO", b"AA"), _el(0x0029, 0x1105, "OB", b"\x02\x02")]])
    c["item-charset-inheritance"] = _item_case(
        "an item sets Specific Character Set ISO_IR 192; a PN in it and a PN in its nested item "
        "are decoded as UTF-8, while the same bytes at top level (default, ISO-8859-1) would "
        "decode differently (C5.1.2)", "item-charset-inheritance", 0x0008, 0x1140,
        [[_el(0x0008, 0x0005, "CS", b"ISO_IR 192"),
          _el(0x0010, 0x0010, "PN", "Jürgen".encode("utf-8") + b" "),
          _sq(0x0040, 0xA170, [[_el(0x0010, 0x0010, "PN", "Müller".encode("utf-8") + b" ")]])]])
    return c


# ─── generate / check ───────────────────────────────────────────────────────


def complete(case: dict) -> dict:
    """The vector as written: inputs, then want_err and the want_* expectations."""
    wants = evaluate(case)
    head = {k: case[k] for k in ("desc", "kind")}
    head["want_err"] = wants.pop("want_err")
    body = {k: v for k, v in case.items() if k not in head and not k.startswith("want_")}
    return {**head, **body, **wants}


def dump(case: dict) -> str:
    return json.dumps(case, indent=2, ensure_ascii=False) + "\n"


def check_relations(vectors: dict[str, dict]) -> list[str]:
    """Sibling relations declared in the vectors: `same` (all expectations equal), `same_value`
    (same V, ID may differ), `different` (different final digest), `error`."""
    problems = []
    final = {"pixels": "want_pixel_digest", "attribute": "want_commitment",
             "item": "want_commitment", "merkle": "want_root", "file": "want_pixel_digest"}
    for name, v in vectors.items():
        rel = v.get("relation")
        if rel is None:
            continue
        base = vectors.get(v.get("sibling_of", ""))
        if base is None:
            problems.append(f"{name}: sibling_of {v.get('sibling_of')!r} not found")
            continue
        if rel == "error":
            if v["want_err"] is None:
                problems.append(f"{name}: relation error but no want_err")
        elif rel == "different":
            if v[final[v['kind']]] == base[final[base['kind']]]:
                problems.append(f"{name}: expected a different digest from {v['sibling_of']}")
        elif rel == "same":
            keys = [k for k in WANTS[v["kind"]] if k != "want_commitment"] + \
                   (["want_derived_salt"] if "want_derived_salt" in v else [])
            for k in keys:
                if v[k] != base[k]:
                    problems.append(f"{name}: {k} differs from {v['sibling_of']}")
        elif rel == "same_value":
            if v["want_value"] != base["want_value"]:
                problems.append(f"{name}: want_value differs from {v['sibling_of']}")
        else:
            problems.append(f"{name}: unknown relation {rel!r}")
    return problems


def cmd_generate(outdir: str) -> int:
    os.makedirs(outdir, exist_ok=True)
    vectors = {name: complete(case) for name, case in build_cases().items()}
    problems = check_relations(vectors) + self_test()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    for name, v in vectors.items():
        with open(os.path.join(outdir, name + ".json"), "w", encoding="utf-8") as fh:
            fh.write(dump(v))
    print(f"wrote {len(vectors)} vectors to {outdir}")
    return 0


def cmd_check(outdir: str) -> int:
    """Recompute every vector in `outdir` from its inputs and compare all expectations."""
    problems = self_test()
    vectors = {}
    files = sorted(f for f in os.listdir(outdir) if f.endswith(".json"))
    for fname in files:
        name = fname[:-5]
        with open(os.path.join(outdir, fname), encoding="utf-8") as fh:
            v = json.load(fh)
        vectors[name] = v
        area = name.split("-", 1)[0]
        if area != v.get("kind"):
            problems.append(f"{fname}: file area {area!r} does not match kind {v.get('kind')!r}")
        if v.get("want_err") is not None and v["want_err"] not in ERROR_KINDS:
            problems.append(f"{fname}: unknown error kind {v['want_err']!r}")
        if v.get("kind") == "file":
            # `file` vectors name a fixture recipe of crates/fixtures (Rust); this reference
            # does not parse DICOM, so it checks only their sibling relations below.
            continue
        got = evaluate(v)
        for k, want in got.items():
            if v.get(k, "<missing>") != want:
                problems.append(f"{fname}: {k}: vector has {v.get(k, '<missing>')!r}, "
                                f"reference computes {want!r}")
    problems += check_relations(vectors)
    missing = sorted(set(build_cases()) - set(vectors))
    if missing:
        problems.append(f"vectors not present (run generate): {', '.join(missing)}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"FAIL: {len(problems)} problem(s) in {len(files)} vectors", file=sys.stderr)
        return 1
    print(f"ok: {len(files)} vectors match")
    return 0


def self_test() -> list[str]:
    """Cross-checks against external data: the published RFC 6962/9162 tree heads."""
    problems = []
    leaves = [unhex(x) for x in CT_REFERENCE_LEAVES]
    for n, want in enumerate(CT_REFERENCE_ROOTS):
        if mth(leaves[:n]).hex() != want:
            problems.append(f"self-test: MTH over {n} CT reference leaves is wrong")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("generate", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    return cmd_generate(argv[2]) if argv[1] == "generate" else cmd_check(argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
