"""pytest glue for the interop test bed: step logging, a ``testbed`` fixture, Synapse (and, for the e2e suite,
Palisade) log tails on failure, one summary line per scenario, the latency line, and a check that no server
started by the session outlives it."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import SynapseStartError, Testbed  # noqa: E402
from harness.testbed import RUN_DIRS  # noqa: E402

_T0 = time.monotonic()
_DURATIONS: dict[str, float] = {}
_OUTCOMES: dict[str, str] = {}
_ORDER: list[str] = []
_LATENCY: list[str] = []


def record_latency(line: str) -> None:
    """Keeps the latency line for the end-of-run summary."""
    _LATENCY.append(line)


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
    e2e = getattr(item, "funcargs", {}).get("e2e")
    if report.failed and e2e is not None:
        report.sections.append(("hs1, hs2 and palisade logs during this scenario", e2e.tails(60)))
    return report


def _scenario_name(nodeid: str) -> str:
    file, _, test = nodeid.partition("::")
    return f"{Path(file).stem.removesuffix('_test')}::{test.removeprefix('test_')}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name = _scenario_name(report.nodeid)
    if name not in _DURATIONS:
        _ORDER.append(name)
        _DURATIONS[name] = 0.0
    _DURATIONS[name] += report.duration
    if report.when == "call" or report.outcome != "passed":
        if hasattr(report, "wasxfail"):
            outcome = "XFAIL" if report.skipped else "XPASS"
        else:
            outcome = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}[report.outcome]
        if _OUTCOMES.get(name) != "FAIL":
            _OUTCOMES[name] = outcome


def _leftover_processes() -> list[tuple[int, str]]:
    """Processes whose command line names a run directory of this session (Synapses, Palisades)."""
    dirs = [str(d) for d in RUN_DIRS]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rpartition(")")[2].split()[0] == "Z":
            continue
        if any(d in cmdline for d in dirs):
            found.append((int(entry.name), cmdline.strip()))
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leftovers = _leftover_processes()
    for pid, _ in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    session.config._interop_leftovers = leftovers  # type: ignore[attr-defined]
    if leftovers:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _ORDER:
        return
    write = terminalreporter.write_line
    write("")
    write("==================== interop scenarios ====================")
    for name in _ORDER:
        write(f"SCENARIO {name:<52} {_OUTCOMES.get(name, 'PASS'):<5} {_DURATIONS[name]:7.1f}s")
    write(f"TOTAL {len(_ORDER)} scenarios in {time.monotonic() - _T0:.1f}s")
    for line in _LATENCY:
        write(line)
    leftovers = getattr(config, "_interop_leftovers", [])
    if leftovers:
        write(f"LEFTOVER PROCESSES ({len(leftovers)}, now killed; the run fails):")
        for pid, cmd in leftovers:
            write(f"  {pid} {cmd}")
    else:
        write("processes: none left behind")
    write("===========================================================")
