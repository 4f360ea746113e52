"""The API and guest helpers of an end-to-end lab, shared by the one-host lab (``lab.py``)
and the multi-host one (``multihost.py``): create resources through the API as a user would,
track their ids, wait for guests, and remove what a test made (through the API first, so that
the agents' teardown is exercised, then by force).

A class using ``LabApi`` provides ``http`` (an admin's client of the API), ``host`` (where
``workload`` puts workloads), ``run_dir`` (that host's agent's, where guests' files are) and the
``tracked``/``made`` id lists.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.e2e.conftest import namespaces, remove_tagged, wait_for
from tests.e2e.traffic import pings
from v6fabric.drivers.commands import CommandError, run
from v6fabric.hoststate.model import dhcp_namespace, router_namespace, workload_namespace
from v6fabric.workloads import GuestAddress, GuestInterface, GuestView, observe

T = TypeVar("T")
SLAAC = {"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}
STATEFUL = {"ipv6_ra_mode": "dhcpv6-stateful", "ipv6_address_mode": "dhcpv6-stateful"}
NOT_DONE = frozenset({"tentative", "optimistic", "dadfailed"})  # DAD flags of unusable addresses


METADATA_URL = "http://[fe80::a9fe:a9fe%eth0]/openstack/latest"


def fetch_metadata(workload: dict, path: str = "meta_data.json", source: str | None = None) -> Any:
    """One fetch from inside the workload now (curl, as a guest would): the JSON, or None when
    no answer came or it was not a 200."""
    argv = ["curl", "-sS", "-g", "--max-time", "3", "-o", "-", "-w", "\n%{http_code}"]
    if source:
        argv += ["--interface", source]
    done = run([*argv, f"{METADATA_URL}/{path}"], netns=workload["namespace"], check=False)
    body, _, code = done.stdout.rpartition("\n")
    if done.returncode != 0 or code.strip() != "200":
        return None
    return json.loads(body)


def fixed_ip(port: dict[str, Any], version: int = 6) -> str:
    """The port's one fixed IP of ``version``, as the API reports it."""
    (only,) = [
        ip["ip_address"]
        for ip in port["fixed_ips"]
        if ipaddress.ip_address(ip["ip_address"]).version == version
    ]
    return only


def usable(addresses: Iterable[GuestAddress]) -> set[IPv4Interface | IPv6Interface]:
    """Those of ``addresses`` whose DAD is over and succeeded: only those carry traffic."""
    return {a.interface for a in addresses if not a.flags & NOT_DONE}


def default_routers(nic: GuestInterface | None, version: int = 6) -> set[str]:
    """The gateways of ``nic``'s default routes of one IP version (none without the NIC)."""
    if nic is None:
        return set()
    return {str(r.via) for r in nic.default_routes if r.destination.version == version}


class LabApi:
    http: httpx.Client
    host: str
    run_dir: Path
    tracked: dict[str, list[str]]  # ids made since the last reset
    made: dict[str, list[str]]  # every id made in the lab's life

    # --- API ------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        response = self.http.request(method, path, json=body)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.text)
        return response.json() if response.content else None

    def create(self, kind: str, **attrs: Any) -> dict[str, Any]:
        created = self.call("POST", _collection(kind), {kind: attrs}, 201)[kind]
        self._track(kind, created["id"])
        return created

    def _track(self, kind: str, item_id: str) -> None:
        self.tracked.setdefault(kind, []).append(item_id)
        self.made.setdefault(kind, []).append(item_id)

    def network(self, **attrs: Any) -> dict[str, Any]:
        return self.create("network", **attrs)

    def subnet(self, network: dict, cidr: str, **attrs: Any) -> dict[str, Any]:
        version = 6 if ":" in cidr else 4
        return self.create(
            "subnet", network_id=network["id"], cidr=cidr, ip_version=version, **attrs
        )

    def slaac_networks(
        self, name: str, prefixes: dict[str, str]
    ) -> tuple[dict[str, dict], dict[str, dict]]:
        """A network with one SLAAC subnet per ``prefixes`` item (key -> CIDR), named
        ``<name>-<key>``: (networks, subnets) by key."""
        nets, subnets = {}, {}
        for key, cidr in prefixes.items():
            nets[key] = self.network(name=f"{name}-{key}")
            subnets[key] = self.subnet(nets[key], cidr, **SLAAC)
        return nets, subnets

    def port(self, network: dict, **attrs: Any) -> dict[str, Any]:
        return self.create("port", network_id=network["id"], **attrs)

    def router(self, *subnets: dict, **attrs: Any) -> dict[str, Any]:
        router = self.create("router", **attrs)
        for subnet in subnets:
            self.call(
                "PUT",
                f"/v2.0/routers/{router['id']}/add_router_interface",
                {"subnet_id": subnet["id"]},
                200,
            )
        return router

    def workload(self, name: str, *ports: dict, **attrs: Any) -> dict[str, Any]:
        """``attrs``: more of the workload (``user_data``, ``public_keys``, ``properties``)."""
        body = {
            "workload": {
                "name": name,
                "host": self.host,
                "port_ids": [p["id"] for p in ports],
                **attrs,
            }
        }
        created = self.call("POST", "/fabric/v1/workloads", body, 201)["workload"]
        self._track("workload", created["id"])
        created["namespace"] = workload_namespace(created["id"])
        return created

    def show(self, kind: str, item_id: str) -> dict[str, Any]:
        return self.call("GET", f"{_collection(kind)}/{item_id}", expect=200)[kind]

    def update(self, kind: str, item_id: str, **attrs: Any) -> dict[str, Any]:
        return self.call("PUT", f"{_collection(kind)}/{item_id}", {kind: attrs}, 200)[kind]

    # --- waiting and looking --------------------------------------------------------------

    def wait_active(self, *ports: dict, timeout: float = 15) -> None:
        for port in ports:
            wait_for(
                f"port {port['id']} ACTIVE",
                lambda p=port: self.show("port", p["id"])["status"] == "ACTIVE",
                timeout,
            )

    def guest(self, workload: dict) -> GuestView:
        return observe(workload["namespace"], run_dir=self.run_dir)

    def wait_guest(
        self, workload: dict, what: str, probe: Callable[[GuestView], T], timeout: float = 20
    ) -> T:
        """Until ``probe`` of the guest is truthy. A namespace that ``ip netns add`` has made
        but not yet mounted (its file is there, ``setns`` refuses it: seen in CI right after
        "plugged") is a guest not ready yet, not an error."""

        def look() -> T | None:
            try:
                view = self.guest(workload)
            except CommandError as error:
                if "setting the network namespace" in error.stderr:
                    return None
                raise
            return probe(view)

        return wait_for(f"{workload['name']}: {what}", look, timeout)

    def wait_addresses(
        self,
        workload: dict,
        *addresses: str | IPv4Address | IPv6Address,
        default_route: bool = False,
        timeout: float = 20,
    ) -> None:
        """Until the guest's eth0 holds ``addresses`` past DAD and, if asked, a default route:
        before that, traffic from or to them is dropped and would prove nothing."""
        wanted = {ipaddress.ip_address(a) for a in addresses}

        def ready(view: GuestView) -> bool:
            nic = view.interfaces.get("eth0")
            if nic is None or (default_route and not nic.default_routes):
                return False
            return wanted <= {i.ip for i in usable((*nic.link_local, *nic.addresses))}

        what = f"{sorted(map(str, wanted))} past DAD"
        self.wait_guest(
            workload, what + (" and a default route" if default_route else ""), ready, timeout
        )

    def ping(self, workload: dict, address: str, count: int = 1) -> bool:
        return pings(workload["namespace"], address, count)

    # --- cleanup --------------------------------------------------------------------------

    def our_namespaces(self, ids: dict[str, list[str]] | None = None) -> set[str]:
        """The namespaces present that the agent names after ``ids`` (default: ``tracked``)."""
        ids = self.tracked if ids is None else ids
        names = {workload_namespace(i) for i in ids.get("workload", [])}
        names |= {router_namespace(i) for i in ids.get("router", [])}
        names |= {dhcp_namespace(i) for i in ids.get("network", [])}
        return names & namespaces()

    def delete_everything(self) -> list[str]:
        """Through the API, in the order a user would: the agent then tears the host down.
        Every deletion is tried; returns those that failed (already gone is no failure)."""
        failed: list[str] = []

        def request(method: str, path: str, body: Any = None) -> httpx.Response | None:
            try:
                response = self.http.request(method, path, json=body)
            except httpx.HTTPError as exc:
                failed.append(f"{method} {path}: {exc!r}")
                return None
            if response.is_error and response.status_code != 404:
                failed.append(f"{method} {path}: {response.status_code} {response.text}")
            return response

        for workload_id in self.tracked.get("workload", []):
            request("DELETE", f"/fabric/v1/workloads/{workload_id}")
        for router_id in self.tracked.get("router", []):
            listing = request("GET", f"/v2.0/ports?device_id={router_id}")
            for port in listing.json()["ports"] if listing and listing.is_success else []:
                path = f"/v2.0/routers/{router_id}/remove_router_interface"
                request("PUT", path, {"port_id": port["id"]})
            request("DELETE", f"/v2.0/routers/{router_id}")
        for kind in ("port", "subnet", "network", "security_group_rule", "security_group"):
            for item_id in reversed(self.tracked.get(kind, [])):
                request("DELETE", f"{_collection(kind)}/{item_id}")
        return failed

    def reset(self) -> None:
        """Between tests: delete what the test made and wait until the agent removed it.

        Everything is removed even when a step fails (leftover namespaces by force); then the
        failures are raised together, so that a test whose cleanup failed does not pass."""
        try:
            failures = self.delete_everything()
        except Exception as exc:  # reported below, after the forced cleanup
            failures = [f"deleting through the API: {exc!r}"]
        try:
            wait_for("the agent to remove our namespaces", lambda: not self.our_namespaces(), 15)
        except AssertionError as exc:
            failures.append(f"{exc}: {sorted(self.our_namespaces())} left")
        failures += _force_remove(self.our_namespaces())
        self.tracked.clear()
        if failures:
            raise AssertionError("lab cleanup failed:\n" + "\n".join(failures))

    def sweep(self) -> None:
        """Once the agent has stopped: remove any namespace left of anything the lab ever made
        (the agent keeps those of an object whose deletion failed) and fail if there was one."""
        left = sorted(self.our_namespaces(self.made))
        failures = _force_remove(left)
        if left:
            raise AssertionError("\n".join([f"namespaces left after the lab: {left}", *failures]))


def _force_remove(names: Iterable[str]) -> list[str]:
    """Kill what runs in each namespace and delete it; what failed."""
    failures: list[str] = []
    for name in sorted(names):
        try:
            remove_tagged(name, [])
        except AssertionError as exc:
            failures.append(str(exc))
    return failures


def _collection(kind: str) -> str:
    """``security_group`` -> ``/v2.0/security-groups`` (body keys use _, URLs use -)."""
    return "/v2.0/" + f"{kind}s".replace("_", "-")


def open_group(lab: LabApi, name: str) -> dict[str, Any]:
    """A group letting everything in (a new group already lets everything out)."""
    group = lab.create("security_group", name=name)
    for ethertype in ("IPv6", "IPv4"):
        lab.create(
            "security_group_rule",
            security_group_id=group["id"],
            direction="ingress",
            ethertype=ethertype,
        )
    return group
