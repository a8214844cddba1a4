"""Where the interop tier finds its inputs, and how it fails when one is missing.

Every missing prerequisite is a failure (never a skip) whose message says how
to get it. Paths can be overridden with environment variables:

- ``SCANSEAL_BIN``: the scanseal binary (default ``target/release/scanseal``);
- ``SCANSEAL_INTEROP_CORPUS``: pydicom's ``data/test_files`` directory
  (default: the pydicom 3.0.2 wheel unzipped by scripts/prereqs.sh under
  ``.interop-cache/``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".interop-cache"
PYDICOM_VERSION = "3.0.2"
DEFAULT_CORPUS = CACHE_DIR / f"pydicom-{PYDICOM_VERSION}" / "pydicom" / "data" / "test_files"

PREREQS = "run scripts/prereqs.sh"

# Every external program the tier runs, with the Debian package providing it.
TOOL_PACKAGES = {
    "dcmconv": "dcmtk",
    "dcmdump": "dcmtk",
    "dcmcrle": "dcmtk",
    "dcmdrle": "dcmtk",
    "dcmcjpls": "dcmtk",
    "dcmdjpls": "dcmtk",
    "dcmcjpeg": "dcmtk",
    "dcmdjpeg": "dcmtk",
    "gdcmconv": "libgdcm-tools",
    "dcmodify": "dcmtk",  # test_seal.py: edits of sealed files
    "gdcmdump": "libgdcm-tools",  # test_seal.py: sealed files read cleanly
    "gdcmanon": "libgdcm-tools",  # test_deid_thirdparty.py: a third-party de-identifier
    "openssl": "openssl",  # test_deid_thirdparty.py: gdcmanon's certificate
    "dcmftest": "dcmtk",  # test_deidentify.py: outputs are Part 10 files
    "gdcminfo": "libgdcm-tools",  # test_deidentify.py: GDCM reads outputs
    "storescu": "dcmtk",  # test_gateway.py: the modality
    "storescp": "dcmtk",  # test_gateway.py: the PACS
    "echoscu": "dcmtk",  # test_gateway.py: C-ECHO
}

# Python modules the tier imports (module name -> pip requirement).
PYTHON_MODULES = {
    "pydicom": "pydicom==3.0.2",
    "numpy": "numpy",
    "pytest": "pytest",
    "pylibjpeg": "pylibjpeg",
    "libjpeg": "pylibjpeg-libjpeg",
    "openjpeg": "pylibjpeg-openjpeg",
    "jpeg_ls": "pyjpegls",
    # test_seal.py: independent COSE_Sign1 / CBOR / Ed25519 checks of seals
    "pycose": "pycose==1.1.0",
    "cbor2": "cbor2==5.9.0",
    "cryptography": "cryptography==50.0.2",
    # verify --json against spec/report.schema.json; verify --png pictures read back
    "jsonschema": "jsonschema==4.26.0",
    "PIL": "pillow==13.0.0",
}


class MissingPrerequisite(AssertionError):
    """A tool, file or module the tier needs is absent. Always a failure."""


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pkg = TOOL_PACKAGES.get(name, "?")
        raise MissingPrerequisite(
            f"{name} not found on PATH: {PREREQS} or apt-get install {pkg}"
        )
    return path


def corpus_dir() -> Path:
    d = Path(os.environ.get("SCANSEAL_INTEROP_CORPUS") or DEFAULT_CORPUS)
    if not (d / "MR_small.dcm").is_file():
        raise MissingPrerequisite(
            f"pydicom {PYDICOM_VERSION} test corpus not found at {d}: {PREREQS} "
            f"(it runs `pip download --no-deps pydicom=={PYDICOM_VERSION} -d .interop-cache` "
            "and unzips the wheel), or set SCANSEAL_INTEROP_CORPUS to pydicom's "
            "data/test_files directory"
        )
    return d


def corpus_file(name: str) -> Path:
    p = corpus_dir() / name
    if not p.is_file():
        raise MissingPrerequisite(
            f"corpus file {name} missing from {corpus_dir()}: the corpus must be the "
            f"pydicom {PYDICOM_VERSION} wheel's test_files ({PREREQS})"
        )
    return p


def scanseal_bin() -> Path:
    p = Path(os.environ.get("SCANSEAL_BIN") or REPO_ROOT / "target" / "release" / "scanseal")
    if not (p.is_file() and os.access(p, os.X_OK)):
        raise MissingPrerequisite(
            f"scanseal binary not found at {p}: build it with `cargo build --release` "
            "(scripts/test.sh does this), or set SCANSEAL_BIN"
        )
    return p
