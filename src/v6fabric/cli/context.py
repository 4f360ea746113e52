"""What every command shares: the --json choice and one lazily built client per invocation.

`CliState` travels in click's context object instead of a module global. Tests (and embedders)
pass their own: `CliRunner().invoke(app, args, obj=CliState(transport=..., environ=...))`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer
from typer.core import TyperGroup

from v6fabric.cli.client import FabricClient
from v6fabric.cli.errors import ClientError
from v6fabric.cli.output import print_error

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the raw JSON object(s) and nothing else.")
]


@dataclass
class CliState:
    """Per-invocation settings; `transport` and `environ` are the seams for tests."""

    json_output: bool = False
    transport: httpx.BaseTransport | None = None
    environ: Mapping[str, str] | None = None
    _client: FabricClient | None = None

    def client(self, ctx: typer.Context | None = None) -> FabricClient:
        if self._client is None:
            self._client = FabricClient.from_env(self.environ, transport=self.transport)
            if ctx is not None:
                ctx.call_on_close(self._release)
        return self._client

    def _release(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def state(ctx: typer.Context) -> CliState:
    return ctx.ensure_object(CliState)


def client(ctx: typer.Context) -> FabricClient:
    """The invocation's client, closed when the command ends."""
    return state(ctx).client(ctx.find_root())


def want_json(ctx: typer.Context, flag: bool) -> bool:
    """`v6fabric --json network list` and `v6fabric network list --json` mean the same."""
    return flag or state(ctx).json_output


class FabricGroup(TyperGroup):
    """Root group: a ClientError anywhere becomes `Error: ...` in red and exit 1, no traceback."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            print_error(str(exc))
            raise typer.Exit(1) from exc
