"""``agent.reporter.StatusReporter``: reports leave the loop, the newest wins, only changes go."""

from __future__ import annotations

import threading
from typing import Any

from v6fabric.agent.reporter import Status, StatusReporter
from v6fabric.cli.errors import ApiError


class FakeFeed:
    def __init__(self) -> None:
        self.registrations = 1
        self.asked_again = 0

    def register_again(self) -> None:
        self.asked_again += 1


class FakeClient:
    """Records each PUT; ``gate`` holds the first one until released (a busy server)."""

    def __init__(self, fail: list[int] | None = None) -> None:
        self.puts: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.fail = list(fail or [])
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.done = threading.Condition()

    def put_status(
        self, host: str, etag: str, ports: Any, workloads: Any, routers: Any = None
    ) -> None:
        self.routers = dict(routers or {})
        self.entered.set()
        self.gate.wait(5)
        if self.fail:
            raise ApiError(self.fail.pop(0), "Failed", "no")
        with self.done:
            self.puts.append((etag, dict(ports), dict(workloads)))
            self.done.notify_all()

    def wait_puts(self, count: int) -> list[tuple[str, dict[str, str], dict[str, str]]]:
        with self.done:
            assert self.done.wait_for(lambda: len(self.puts) >= count, 5), self.puts
        return self.puts


def status(etag: str, **ports: str) -> Status:
    return Status(etag, dict(ports), {}, None)


def reporter(client: FakeClient, feed: FakeFeed | None = None) -> StatusReporter:
    return StatusReporter(client, "h1", feed or FakeFeed()).start()  # type: ignore[arg-type]


def test_first_report_is_full_then_only_changes() -> None:
    client = FakeClient()
    sender = reporter(client)
    sender.offer(status("e1", p1="ACTIVE", p2="DOWN"))
    client.wait_puts(1)
    sender.offer(status("e2", p1="ACTIVE", p2="ACTIVE"))
    sender.close()
    assert client.puts == [
        ("e1", {"p1": "ACTIVE", "p2": "DOWN"}, {}),
        ("e2", {"p2": "ACTIVE"}, {}),
    ]


def test_an_unchanged_status_is_not_sent_again() -> None:
    client = FakeClient()
    sender = reporter(client)
    sender.offer(status("e1", p1="ACTIVE"))
    client.wait_puts(1)
    sender.offer(status("e1", p1="ACTIVE"))
    sender.close()
    assert len(client.puts) == 1


def test_offer_does_not_wait_for_the_server_and_the_newest_wins() -> None:
    """While a PUT hangs, the loop's offers return at once; of those queued meanwhile only the
    newest is sent, carrying everything that changed since the report the server took."""
    client = FakeClient()
    client.gate.clear()
    sender = reporter(client)
    sender.offer(status("e1", p1="DOWN"))
    assert client.entered.wait(5)
    sender.offer(status("e2", p1="DOWN", p2="DOWN"))  # returns although the PUT hangs
    sender.offer(status("e3", p1="ACTIVE", p2="ACTIVE"))
    client.gate.set()
    sender.close()
    assert client.puts == [
        ("e1", {"p1": "DOWN"}, {}),
        ("e3", {"p1": "ACTIVE", "p2": "ACTIVE"}, {}),
    ]


def test_a_404_registers_again_and_the_next_report_is_full() -> None:
    feed = FakeFeed()
    client = FakeClient()
    sender = reporter(client, feed)
    sender.offer(status("e1", p1="ACTIVE", p2="ACTIVE"))
    client.wait_puts(1)
    client.fail = [404]
    sender.offer(status("e2", p1="ACTIVE", p2="DOWN"))
    client.wait_puts(2)  # retried after the backoff
    sender.close()
    assert feed.asked_again == 1
    assert client.puts[1] == ("e2", {"p1": "ACTIVE", "p2": "DOWN"}, {})  # full, not the change


def test_a_registration_makes_the_next_report_full() -> None:
    feed = FakeFeed()
    client = FakeClient()
    sender = reporter(client, feed)
    sender.offer(status("e1", p1="ACTIVE"))
    client.wait_puts(1)
    feed.registrations += 1  # a new server: it knows none of our statuses
    sender.offer(status("e1", p1="ACTIVE"))
    sender.close()
    assert client.puts == [("e1", {"p1": "ACTIVE"}, {}), ("e1", {"p1": "ACTIVE"}, {})]


def test_with_nothing_new_the_last_report_goes_again_as_a_heartbeat() -> None:
    """A host with nothing to say still tells the server it is alive (its ``seen_at``), so
    that one gone silent can be told apart and its routers moved."""
    client = FakeClient()
    sender = StatusReporter(client, "h1", FakeFeed(), heartbeat=0.05).start()  # type: ignore[arg-type]
    sender.offer(status("e1", p1="ACTIVE"))
    puts = client.wait_puts(3)
    sender.close()
    assert puts[0] == ("e1", {"p1": "ACTIVE"}, {})
    assert puts[1:3] == [("e1", {}, {}), ("e1", {}, {})]  # the same state, no statuses


def test_no_heartbeat_before_a_first_report() -> None:
    client = FakeClient()
    sender = StatusReporter(client, "h1", FakeFeed(), heartbeat=0.01).start()  # type: ignore[arg-type]
    threading.Event().wait(0.1)
    sender.close()
    assert client.puts == []
