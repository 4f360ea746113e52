"""A small metadata spec for the metadata proxy's unit tests: two workloads on two networks,
and helpers to build listeners, ports and instances."""

from __future__ import annotations

from v6fabric.hoststate.metadata import (
    MetadataInstance,
    MetadataListener,
    MetadataPort,
    MetadataSpec,
)

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlphaAlphaAlphaAlphaAlphaAlphaAlphaAlpha alice@test"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBravoBravoBravoBravoBravoBravoBravoBravo bob@test"
MAC_A = "fa:16:3e:00:00:0a"
MAC_B = "fa:16:3e:00:00:0b"
NETWORK_DATA_A = '{"links": [{"id": "tapa", "type": "phy"}], "networks": [], "services": []}'


def instance_a(**changes: object) -> MetadataInstance:
    values: dict[str, object] = {
        "instance_id": "dev-a",
        "project_id": "proj-a",
        "name": "alpha",
        "hostname": "alpha",
        "public_keys": (("alice", KEY_A),),
        "user_data": "#cloud-config\nhostname: alpha\n",
        "properties": (("role", "web"),),
        "network_data": NETWORK_DATA_A,
    }
    values.update(changes)
    return MetadataInstance(**values)  # type: ignore[arg-type]


def instance_b() -> MetadataInstance:
    return MetadataInstance(
        instance_id="dev-b",
        project_id="proj-b",
        name="bravo",
        hostname="bravo",
        public_keys=(("bob", KEY_B),),
        user_data=None,
    )


def port(
    port_id: str, network_id: str, mac: str, addresses: tuple[str, ...], device_id: str
) -> MetadataPort:
    project = "proj-" + device_id.removeprefix("dev-")
    return MetadataPort(port_id, network_id, mac, addresses, device_id, project)


def two_networks(source: str = "::1") -> MetadataSpec:
    """dev-a on net-a and dev-b on net-b, both seen from ``source`` (loopback in tests), each
    network with its own listener (namespace ns-a / ns-b)."""
    return MetadataSpec.of(
        listeners=(
            MetadataListener("ns-a", "ns-aaaa", "net-a", ipv4=True),
            MetadataListener("ns-b", "ns-bbbb", "net-b"),
        ),
        ports=(
            port("port-a", "net-a", MAC_A, (source, "2001:db8:a::5", "127.0.0.1"), "dev-a"),
            port("port-b", "net-b", MAC_B, (source, "2001:db8:b::5"), "dev-b"),
        ),
        instances=(instance_a(), instance_b()),
    )
