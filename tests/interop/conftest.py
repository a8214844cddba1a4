"""pytest configuration of the interop tier.

Missing prerequisites fail (never skip): a module missing here stops the run
with instructions; missing tools, corpus or binary fail the tests that need
them (see ienv.py). A run in which any test was skipped exits non-zero.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ienv  # noqa: E402
import ireport  # noqa: E402

_missing = [f"{mod} (pip: {req})" for mod, req in ienv.PYTHON_MODULES.items()
            if importlib.util.find_spec(mod) is None]
if _missing:
    pytest.exit(
        "interop tier: python modules missing: " + ", ".join(_missing)
        + f". Run scripts/prereqs.sh, then run the tier with {ienv.CACHE_DIR}/venv/bin/python "
        "-m pytest tests/interop (or pip install -r tests/interop/requirements.txt)",
        returncode=3,
    )


@pytest.fixture(scope="session")
def corpus() -> Path:
    return ienv.corpus_dir()


@pytest.fixture(scope="session")
def producer(tmp_path_factory):
    from transcoders import Producer, source_paths

    work = tmp_path_factory.mktemp("transcodes")
    return Producer(work, source_paths(work))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for title, lines in ireport.SECTIONS.items():
        terminalreporter.write_sep("=", title)
        for line in lines:
            terminalreporter.write_line(line)
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_sep(
            "!", f"{len(skipped)} test(s) skipped: the interop tier never skips; failing the run")


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = 1
