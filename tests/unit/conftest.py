"""Fixtures of the CLI tests: the root app, a fake cloud, and a runner bound to both."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterator

import httpx
import pytest
import typer
from typer.testing import CliRunner, Result

from tests.unit.fake_cloud import ENV, FakeCloud
from v6fabric.cli.context import CliState


@pytest.fixture
def cli_app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """The root app; a stand-in `admin` sub-app only if the real one is not written yet."""
    try:
        importlib.import_module("v6fabric.cli.admin")
    except ImportError:
        stub = types.ModuleType("v6fabric.cli.admin")
        stub.admin_app = typer.Typer(help="stand-in")  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "v6fabric.cli.admin", stub)
    return importlib.import_module("v6fabric.cli.main").app


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


@pytest.fixture
def run(cli_app: typer.Typer, cloud: FakeCloud) -> Iterator[Callable[..., Result]]:
    """Invoke the CLI against `cloud`, with the credentials in ENV."""
    runner = CliRunner()

    def invoke(*args: str, environ: dict[str, str] | None = None) -> Result:
        obj = CliState(transport=httpx.MockTransport(cloud), environ=environ or ENV)
        return runner.invoke(cli_app, list(args), obj=obj, env={"COLUMNS": "200"})

    yield invoke
