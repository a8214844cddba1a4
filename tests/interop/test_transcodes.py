"""Files transcoded by DCMTK and GDCM keep their digest and their commitments.

For each (source, transcode) of transcoders.py:
1. the tool ran and wrote the declared transfer syntax, different from its
   input's (or, for re-fragmenting steps, with more fragments);
2. pydicom decodes pixels equal to the original's;
3. pydicom's attribute view differs from the original's in exactly the ids the
   transcode declares (validating the declaration against the tool);
4. scanseal: same pixel_digest, frame digests and descriptor as the original,
   and (same --salt-seed) commitments differing in exactly those ids.
"""

from __future__ import annotations

import pytest

import dicom_ref as ref
import ireport
import scanseal_cli as cli
from transcoders import BY_NAME, TRANSCODES, cases

SECTION = "Transcodes (DCMTK / GDCM) vs original"
_HEADER_DONE = False


def _row(source, t, ts="-", frags="-", pydicom_eq="-", digest_eq="-", changed="-"):
    global _HEADER_DONE
    if not _HEADER_DONE:
        ireport.add(SECTION, f"  {'source':20} {'transcode':28} {'transfer syntax':23} {'frags':>5} "
                             f"{'pydicom px':10} {'digest':6} attribute ids changed (scanseal)")
        _HEADER_DONE = True
    ireport.add(SECTION, f"  {source:20} {t.name:28} {ts:23} {frags:>5} {pydicom_eq:10} "
                         f"{digest_eq:6} {changed}")


@pytest.mark.parametrize("source,t", cases(), ids=[f"{s}-{t.name}" for s, t in cases()])
def test_transcode_keeps_digest_and_commitments(producer, source, t):
    orig = producer.sources[source]
    try:
        out = producer.get(source, t.name)
    except AssertionError:
        _row(source, t, ts="TOOL FAILED")
        raise
    inp = producer.input_of(source, t)
    ts, in_ts = ref.transfer_syntax(out), ref.transfer_syntax(inp)
    frags = ref.fragment_count(out)
    fr = "-" if frags is None else str(frags)

    # 1. the tool did what it is declared to do
    assert ts == t.ts, f"{' '.join(t.argv)} wrote TS {ts}, expected {t.ts}"
    if t.refragment:
        in_frags = ref.fragment_count(inp)
        assert ts == in_ts and frags > in_frags, (
            f"{t.name}: expected more fragments than its input ({in_frags}), got {frags}")
    else:
        assert ts != in_ts, f"{t.name}: transfer syntax unchanged ({ts}); the tool did nothing"

    # 2. pydicom: the pixels are the original's
    try:
        px = ref.pixels(out)
    except Exception as e:
        _row(source, t, ts, fr, "UNDECODABLE")
        pytest.fail(f"pydicom cannot decode {t.name} output ({ts}): {e} — "
                    "run scripts/prereqs.sh for the pylibjpeg/pyjpegls plugins")
    if not ref.same_pixels(ref.pixels(orig), px):
        _row(source, t, ts, fr, "DIFFERENT")
        pytest.fail(f"{t.name} is not lossless per pydicom: decoded pixels differ from {source}")

    # 3. pydicom: the tool changed exactly the declared attributes
    view_changes = ref.all_ids(ref.view_diff(ref.attribute_view(orig), ref.attribute_view(out)))
    assert view_changes == set(t.allowed_changes), (
        f"{t.name}: pydicom sees attribute changes {sorted(view_changes) or 'none'}, "
        f"transcoders.py declares {sorted(t.allowed_changes) or 'none'} — fix the declaration "
        "(with the reason) if the tool's behaviour is legitimate")

    # 4. scanseal
    rec_o, rec_t = cli.digest([orig, out])
    problems = []
    for rec, name in ((rec_o, source), (rec_t, t.name)):
        if rec["pixel_mode"] != "decoded-samples":
            problems.append(f"{name}: pixel_mode {rec['pixel_mode']} (TS {rec['transfer_syntax']})")
    if rec_t["transfer_syntax"] != ts:
        problems.append(f"scanseal reports TS {rec_t['transfer_syntax']}, pydicom {ts}")
    for key in ("descriptor", "frames", "tiles", "pixel_digest"):
        if rec_o[key] != rec_t[key]:
            problems.append(f"{key}: {source} {rec_o[key]} vs {t.name} {rec_t[key]}")
    bad_frames = cli.frame_diff(rec_o, rec_t)
    if bad_frames:
        problems.append(f"frame digests differ at frames {bad_frames}")
    d = cli.attribute_diff(rec_o, rec_t)
    changed = d["added"] | d["removed"] | d["changed"]
    if changed != set(t.allowed_changes):
        problems.append(
            "attribute commitments: "
            + "; ".join(f"{k} {cli.describe_ids(v, rec_o, rec_t)}" for k, v in d.items() if v)
            + f" — allowed for {t.name}: {sorted(t.allowed_changes) or 'none'}"
            + (f" ({t.why})" if t.why else "")
            + f"; unexpected: {cli.describe_ids(changed - set(t.allowed_changes), rec_o, rec_t)}"
            + f"; missing: {sorted(set(t.allowed_changes) - changed) or 'none'}")
    # A lossless re-encoding must never touch a key attribute (spec §7): whatever a tool is
    # allowed to add or change has to be outside key-attributes-v1, or a verifier would call
    # a legitimate PACS transcode an alteration.
    key_changed = sorted(x["id"] for rec in (rec_o, rec_t) for x in rec["attributes"]
                         if x["id"] in changed and x.get("key"))
    if key_changed:
        problems.append(f"the transcode changed key attributes {key_changed}")
    _row(source, t, ts, fr, "equal", "equal" if rec_o["pixel_digest"] == rec_t["pixel_digest"]
         else "DIFF", ",".join(sorted(changed)) or "-")
    assert not problems, f"{source} -> {t.name} ({' '.join(t.argv)}):\n  " + "\n  ".join(problems)


def test_declared_chains_are_valid():
    for t in TRANSCODES:
        if t.src is not None:
            assert t.src in BY_NAME, f"{t.name}: unknown src {t.src}"
            assert set(BY_NAME[t.src].allowed_changes) <= set(t.allowed_changes), (
                f"{t.name} must allow at least what its input {t.src} changed")
        assert bool(t.allowed_changes) == bool(t.why), f"{t.name}: allowed changes need a reason"
