"""Prerequisites of the tier, checked first so that their absence reads clearly."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.pixels import get_decoder

import ienv
import scanseal_cli as cli
from transcoders import MULTIFRAME_SOURCE, SOURCES, TRANSCODES

# Transfer syntaxes pydicom must be able to decode for the tier's pixel checks.
NEEDED_DECODERS = {
    "1.2.840.10008.1.2.5": "RLE Lossless",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless P14 (pylibjpeg-libjpeg)",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1 (pylibjpeg-libjpeg)",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless (pyjpegls)",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless (pylibjpeg-openjpeg)",
}


def test_external_tools_on_path():
    tools = sorted(set(ienv.TOOL_PACKAGES) | {t.tool for t in TRANSCODES})
    problems = []
    for tool in tools:
        try:
            ienv.require_tool(tool)
        except ienv.MissingPrerequisite as e:
            problems.append(str(e))
    assert not problems, "\n".join(problems)


def test_pydicom_reference_stack():
    assert pydicom.__version__ == ienv.PYDICOM_VERSION, (
        f"pydicom {pydicom.__version__} imported, the tier pins {ienv.PYDICOM_VERSION}: "
        f"{ienv.PREREQS} and run pytest with .interop-cache/venv/bin/python"
    )
    missing = [f"{uid} {what}" for uid, what in NEEDED_DECODERS.items()
               if not get_decoder(uid).is_available]
    assert not missing, (
        "pydicom cannot decode: " + "; ".join(missing)
        + f" — {ienv.PREREQS} (installs pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg, pyjpegls)"
    )


@pytest.mark.parametrize("name", [s for s in SOURCES if s != MULTIFRAME_SOURCE]
                         + ["rtdose.dcm", "examples_overlay.dcm"])
def test_corpus_present(name):
    ienv.corpus_file(name)


def test_scanseal_digest_json_runs(corpus):
    ienv.scanseal_bin()
    (rec,) = cli.digest([corpus / "MR_small.dcm"])
    assert rec["pixel_mode"] == "decoded-samples", rec
    (rec,) = cli.digest([corpus / "MR_small.dcm"], salt_seed=None)
    assert all("commitment" not in a for a in rec["attributes"])
