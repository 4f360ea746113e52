"""pytest plugin: tests marked ``uml`` run inside one User-Mode-Linux guest.

This host's kernel lacks 802.1Q, GRE, VRF, kernel ESP...; the UML kernel has them all
(``v6fabric.lab.uml``). On the host, after selection (``-m``, ``-k``, node ids), every selected
``uml`` test is replaced by a stand-in with the same node id: the first stand-in to run starts
one guest that runs ``pytest <all those node ids>`` for real, and each stand-in then reports its
own test's outcome from the guest (passed, failed with the guest's traceback and output,
skipped, xfailed). The guest's reports come back as JSON lines in a host directory the guest
mounts read-write; the repository stays read-only in the guest (no cache provider, no bytecode).

Without UML installed the ``uml`` tests skip with the reason (they fail under ``CI``, which
must run them); ``--no-uml`` skips them on purpose. ``--uml-memory`` and ``--uml-timeout``
tune the guest. With pytest-xdist every worker that gets a ``uml`` test starts its own guest.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from v6fabric.lab import uml

MARK = "uml"
REPORTS_ENV = "V6FABRIC_UML_REPORTS"  # in the guest: the JSON-lines file for test reports
_RUNNER = pytest.StashKey["GuestRun"]()
_ROOT = Path(__file__).resolve().parents[1]  # where `tests.uml_plugin` imports from


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("uml", "tests inside User-Mode-Linux (the `uml` marker)")
    group.addoption("--no-uml", action="store_true", help="skip the `uml` tests")
    group.addoption("--uml-memory", default=uml.DEFAULT_MEMORY, help="the guest's RAM (256M)")
    group.addoption(
        "--uml-timeout",
        type=float,
        default=1200.0,
        help="seconds for the whole guest run (boot, all `uml` tests, halt)",
    )


# --- in the guest: write every report where the host reads it --------------------------------


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = os.environ.get(REPORTS_ENV)
    if not path or not uml.in_guest():
        return
    reason = ""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
    record = {
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "longrepr": "" if report.passed else report.longreprtext,
        "reason": reason,
        "wasxfail": getattr(report, "wasxfail", None),
        "sections": [list(section) for section in report.sections],
        "duration": report.duration,
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


# --- on the host: stand-ins and the one guest run ---------------------------------------------


@dataclass
class GuestRun:
    """One guest for all selected ``uml`` tests, started by the first stand-in that runs."""

    config: pytest.Config
    nodeids: list[str]
    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failure: str | None = None  # why the guest gave no reports at all
    summary: str = ""
    done: bool = False

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",  # the repository is read-only in the guest
            "-p",
            __name__,  # also when no conftest names it (a test directory outside tests/)
            "-q",
            "-rfEs",
            "-m",
            MARK,
            *self.nodeids,
        ]

    def environment(self, reports: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
        env[REPORTS_ENV] = str(reports)
        return env

    def run(self) -> None:
        self.done = True
        results = Path(tempfile.mkdtemp(prefix="v6fabric-uml-results."))
        reports = results / "reports.jsonl"
        started = time.monotonic()
        try:
            try:
                result = uml.run(
                    self.argv(),
                    writable=[results],
                    readable=[self.config.rootpath, _ROOT, sys.prefix],
                    memory=self.config.getoption("uml_memory"),
                    timeout=self.config.getoption("uml_timeout"),
                    cwd=self.config.rootpath,
                    env=self.environment(reports),
                )
            except (uml.UmlError, OSError) as exc:  # every stand-in then fails with it
                self.failure = str(exc)
                return
            if reports.exists():
                for line in reports.read_text().splitlines():
                    record = json.loads(line)
                    self.reports.setdefault(record["nodeid"], []).append(record)
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            self.summary = (
                f"{len(self.nodeids)} test(s) in one guest, {time.monotonic() - started:.1f} s "
                f"(pytest exit {result.returncode})"
            )
            if not self.reports:
                self.failure = (
                    f"the guest's pytest reported nothing (exit {result.returncode}):\n{tail}"
                )
            elif result.returncode not in (0, 1):
                self.summary += f"\n{tail}"
        finally:
            shutil.rmtree(results, ignore_errors=True)

    def outcome_of(self, nodeid: str) -> list[dict[str, Any]]:
        if not self.done:
            self.run()
        if self.failure:
            pytest.fail(f"the UML guest failed: {self.failure}", pytrace=False)
        records = self.reports.get(nodeid)
        if not records:
            pytest.fail(f"the UML guest did not run {nodeid} ({self.summary})", pytrace=False)
        return records


class UmlStandIn(pytest.Item):
    """Stands for a ``uml`` test on the host: reports the outcome it had inside the guest."""

    def __init__(self, *, original: pytest.Item, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.original = original
        self.own_markers = list(original.own_markers)
        self.keywords.update(original.keywords)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.original.reportinfo()

    def runtest(self) -> None:
        runner = self.config.stash[_RUNNER]
        records = runner.outcome_of(self.nodeid)
        for record in records:
            if record["outcome"] == "failed":
                pytest.fail(_failure_text(record), pytrace=False)
        for record in records:
            if record["outcome"] == "skipped":
                if record["wasxfail"] is not None:
                    pytest.xfail(f"in the UML guest: {record['wasxfail']}")
                reason = record["reason"].removeprefix("Skipped: ")
                # reported at the test's own location, not here
                raise pytest.skip.Exception(f"in the UML guest: {reason}", _use_item_location=True)


def _failure_text(record: dict[str, Any]) -> str:
    parts = [f"[in the UML guest, {record['when']}]", record["longrepr"]]
    for title, content in record["sections"]:
        parts.append(f"----- {title} -----\n{content}")
    return "\n".join(parts)


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only what will run goes to the guest
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if uml.in_guest():
        return  # the tests run for real here
    chosen = [i for i, item in enumerate(items) if item.get_closest_marker(MARK)]
    if not chosen:
        return
    runner = GuestRun(config, [items[i].nodeid for i in chosen])
    reason = "--no-uml" if config.getoption("no_uml") else uml.unavailable_reason()
    if reason and (reason == "--no-uml" or not os.environ.get("CI")):
        for i in chosen:
            items[i].add_marker(pytest.mark.skip(reason=f"runs in User-Mode-Linux only: {reason}"))
        return
    if reason:  # CI must run them: each fails with the reason
        runner.done, runner.failure = True, f"CI must run the `uml` tests: {reason}"
    config.stash[_RUNNER] = runner
    for i in chosen:
        original = items[i]
        assert original.parent is not None
        items[i] = UmlStandIn.from_parent(original.parent, name=original.name, original=original)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    runner = config.stash.get(_RUNNER, None)
    if runner is not None and runner.done and runner.summary:
        terminalreporter.write_line(f"uml: {runner.summary}")
