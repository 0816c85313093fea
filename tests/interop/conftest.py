"""pytest glue for the interop test bed: step logging, a ``testbed`` fixture and Synapse log tails on failure."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import SynapseStartError, Testbed  # noqa: E402

_T0 = time.monotonic()


def step(msg: str) -> None:
    """One progress line per test step, shown live (``run`` passes ``-s``) and with a run-relative timestamp."""
    sys.__stdout__.write(f"[interop {time.monotonic() - _T0:6.2f}s] {msg}\n")
    sys.__stdout__.flush()


@pytest.fixture(name="step")
def step_fixture():
    return step


@pytest.fixture
def testbed(request: pytest.FixtureRequest) -> Iterator[Testbed]:
    """A fresh run directory and CA; tests add and start Synapses on it. Everything is stopped afterwards.

    The directory is kept (and its path printed) when the test fails or PALISADE_INTEROP_KEEP=1.
    """
    tb = Testbed()
    step(f"test bed in {tb.dir}")
    failed = True
    try:
        yield tb
        failed = False
    finally:
        rep = getattr(request.node, "rep_call", None)
        failed = failed or rep is None or rep.failed
        tb.stop_all()
        if failed or tb.keep:
            step(f"kept {tb.dir} (logs: <server>/homeserver.log, <server>/stdout.log)")
        tb.close(failed=failed)
        step("all servers stopped")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    tb = getattr(item, "funcargs", {}).get("testbed")
    already_has_tails = call.excinfo is not None and call.excinfo.errisinstance(SynapseStartError)
    if report.failed and isinstance(tb, Testbed) and tb.synapses and not already_has_tails:
        tails = tb.log_tails(lines=60)
        report.sections.append(("synapse log tails", tails))
    return report
