"""Status reports go out from their own thread: a slow PUT never holds up the next state."""

from __future__ import annotations

import threading

import httpx

from v6fabric.agent.client import FabricStateClient
from v6fabric.agent.status import StatusReporter


def test_the_latest_report_is_sent_and_a_slow_put_does_not_block_submit() -> None:
    release = threading.Event()
    sent: list[bytes] = []

    def server(request: httpx.Request) -> httpx.Response:
        release.wait(5)  # the server is slow to take the report
        sent.append(request.content)
        return httpx.Response(204)

    reporter = StatusReporter(
        FabricStateClient("http://fabric.test", None, transport=httpx.MockTransport(server)), "h1"
    )
    try:
        reporter.submit(("e1", {"p": "DOWN"}, {}))  # in flight, blocked at the server
        assert not reporter.idle(0.2)
        reporter.submit(("e2", {"p": "BUILD"}, {}))  # replaced before it went out
        reporter.submit(("e3", {"p": "ACTIVE"}, {}))  # returns at once: nothing waits
        release.set()
        assert reporter.idle(5)
        assert len(sent) == 2 and b'"e1"' in sent[0] and b'"e3"' in sent[1]
        reporter.submit(("e3", {"p": "ACTIVE"}, {}))  # what was last sent: not again
        assert reporter.idle(1) and len(sent) == 2
    finally:
        reporter.close()
