"""One image, many encodings: pydicom's MR_small variants must get one pixel digest.

pydicom ships MR_small.dcm re-encoded by several tools (implicit VR, big
endian, RLE, JPEG-LS lossless, JPEG 2000 lossless, with excess padding). The
test first establishes with pydicom that the decoded pixels really are equal;
a variant whose pixels differ must be declared in KNOWN_PIXEL_DIFFERENT with
the reason (the declaration is asserted, so it cannot go stale silently), and
only the equal ones are required to share scanseal's digest.
"""

from __future__ import annotations

import pytest

import dicom_ref as ref
import ireport
import scanseal_cli as cli

REFERENCE = "MR_small.dcm"
# Variants that must exist in pydicom 3.0.2's test_files (more are picked up by glob).
REQUIRED_VARIANTS = {
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_expb.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_padded.dcm",
}
# name -> why its pixels legitimately differ from MR_small.dcm. None in 3.0.2.
KNOWN_PIXEL_DIFFERENT: dict[str, str] = {}


def _variants(corpus):
    names = sorted(p.name for p in corpus.glob("MR_small*.dcm"))
    missing = REQUIRED_VARIANTS - set(names)
    assert not missing, f"corpus lacks MR_small variants {sorted(missing)} (is it pydicom 3.0.2?)"
    return [corpus / n for n in names]


def _pixel_equal_variants(corpus):
    refpx = ref.pixels(corpus / REFERENCE)
    equal, different = [], {}
    for p in _variants(corpus):
        try:
            px = ref.pixels(p)
        except Exception as e:
            different[p.name] = f"pydicom cannot decode it: {e}"
            continue
        if ref.same_pixels(refpx, px):
            equal.append(p)
        else:
            n = int((px != refpx).sum()) if px.shape == refpx.shape else "shape"
            different[p.name] = f"pixels differ from {REFERENCE} ({n} samples, shape {px.shape})"
    return equal, different


def test_mr_small_variants_have_equal_pixels_in_pydicom(corpus):
    equal, different = _pixel_equal_variants(corpus)
    for name, why in sorted(different.items()):
        print(f"excluded {name}: {why}")
    ireport.add("MR_small variants: pydicom pixel equality",
                f"  {len(equal)} variants equal to {REFERENCE}: {', '.join(p.name for p in equal)}",
                *[f"  excluded {n}: {w}" for n, w in sorted(different.items())])
    assert set(different) == set(KNOWN_PIXEL_DIFFERENT), (
        f"variants whose pixels differ per pydicom: {different}; "
        f"declared as known: {KNOWN_PIXEL_DIFFERENT}"
    )
    assert len(equal) >= 1 + len(REQUIRED_VARIANTS)


# None: the default (64, larger than the image); 7 does not divide 64, so edge
# tiles are partial (C4.3.1); 1 is the smallest tile.
@pytest.mark.parametrize("tile_size", [None, 7, 1])
def test_mr_small_variants_share_one_pixel_digest(corpus, tile_size):
    equal, _ = _pixel_equal_variants(corpus)
    records = cli.digest(equal, tile_size=tile_size)
    ref_rec = records[[p.name for p in equal].index(REFERENCE)]
    ref_view = ref.attribute_view(corpus / REFERENCE)
    rows, problems = [], []
    for p, rec in zip(equal, records):
        ts = ref.transfer_syntax(p)
        rows.append(f"  {p.name:32} {ts:24} {rec['pixel_mode']:16} {rec['pixel_digest'][:16]}…")
        if rec["pixel_mode"] != "decoded-samples":
            problems.append(f"{p.name}: pixel_mode {rec['pixel_mode']} (TS {ts})")
        for key in ("pixel_digest", "frame_digests", "descriptor", "tiles"):
            if rec[key] != ref_rec[key]:
                problems.append(f"{p.name} ({ts}): {key} {rec[key]} != {REFERENCE}'s {ref_rec[key]}")
        # The attributes must differ exactly where pydicom's reading differs.
        want = ref.all_ids(ref.view_diff(ref_view, ref.attribute_view(p)))
        got = cli.attribute_diff(ref_rec, rec)
        got_ids = got["added"] | got["removed"] | got["changed"]
        if got_ids != want:
            problems.append(
                f"{p.name}: commitments differ for {cli.describe_ids(got_ids, ref_rec, rec)}; "
                f"pydicom sees differences in {sorted(want) or 'none'}")
    if tile_size is None:
        ireport.add("MR_small variants (one image, many encodings)", *rows)
    assert not problems, "\n".join(problems)


def test_tile_size_is_part_of_the_digest(corpus):
    """C4.6.1 binds T: the same image with another tile size has another digest."""
    p = corpus / REFERENCE
    digests = {t: cli.digest([p], tile_size=t)[0]["pixel_digest"] for t in (64, 7, 1)}
    assert len(set(digests.values())) == 3, digests
    assert cli.digest([p])[0]["pixel_digest"] == digests[64], "default tile size is not 64"
