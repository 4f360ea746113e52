"""Workloads' instance metadata through /fabric/v1/workloads: user data, SSH keys, properties
(issue 5, R12): stored as given, shown to the owner and admins, refused with Neutron's 400 form
(and nothing written) when malformed."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.api.conftest import Api, assert_error


def ssh_key(kind: str = "ssh-ed25519", comment: str = "alice@laptop", fill: int = 7) -> str:
    """An OpenSSH public key line of ``kind`` (the blob names its own type, as real ones do)."""
    name = kind.encode()
    blob = len(name).to_bytes(4, "big") + name + (32).to_bytes(4, "big") + bytes([fill]) * 32
    return f"{kind} {base64.b64encode(blob).decode()} {comment}".strip()


def _register(api: Api) -> None:
    r = api.put("/fabric/v1/hosts/h1", {"roles": ["compute", "network"]}, "admin")
    assert r.status_code == 200, r.text


def _create(api: Api, user: str = "alice", **attrs: Any) -> Any:
    net = api.network(user)
    port = api.port(net["id"], user)
    body = {"name": "vm1", "host": "h1", "port_ids": [port["id"]], **attrs}
    return api.post("/fabric/v1/workloads", {"workload": body}, user)


def test_metadata_is_stored_and_shown_to_owner_and_admin_only(api: Api) -> None:
    _register(api)
    keys = [
        {"name": "laptop", "key": ssh_key()},
        {"name": "rsa", "key": ssh_key("ssh-rsa", comment="")},
        {"name": "ecdsa", "key": ssh_key("ecdsa-sha2-nistp256")},
    ]
    r = _create(
        api,
        user_data="#cloud-config\nhostname: vm1\n",
        public_keys=keys,
        properties={"role": "web", "empty": ""},
    )
    assert r.status_code == 201, r.text
    created = r.json()["workload"]
    assert created["user_data"] == "#cloud-config\nhostname: vm1\n"
    assert created["public_keys"] == keys
    assert created["properties"] == {"role": "web", "empty": ""}
    for user in ("alice", "admin"):
        shown = api.get(f"/fabric/v1/workloads/{created['id']}", user).json()["workload"]
        assert {k: shown[k] for k in ("user_data", "public_keys", "properties")} == {
            "user_data": "#cloud-config\nhostname: vm1\n",
            "public_keys": keys,
            "properties": {"role": "web", "empty": ""},
        }
    # another project neither sees it in the list nor by id
    assert api.get("/fabric/v1/workloads", "bob").json()["workloads"] == []
    r = api.get(f"/fabric/v1/workloads/{created['id']}", "bob")
    assert r.status_code == 404


def test_without_metadata_the_defaults_are_empty(api: Api) -> None:
    _register(api)
    r = _create(api)
    assert r.status_code == 201, r.text
    created = r.json()["workload"]
    assert (created["user_data"], created["public_keys"], created["properties"]) == (None, [], {})


TOO_LONG = "x" * 65536
BAD = [
    ({"user_data": 5}, "Invalid input for user_data. Reason: '5' is not a valid string."),
    (
        {"user_data": TOO_LONG},
        "Invalid input for user_data. Reason: '65536' bytes exceed maximum length of 65535.",
    ),
    (
        {"user_data": "é" * 32768},  # 65,536 bytes in UTF-8, fewer characters
        "Invalid input for user_data. Reason: '65536' bytes exceed maximum length of 65535.",
    ),
    ({"public_keys": "ssh-ed25519 AAAA"}, None),
    ({"public_keys": [{"name": "k"}]}, None),
    (
        {"public_keys": [{"name": "k", "key": ssh_key()}, {"name": "k", "key": ssh_key(fill=8)}]},
        "Invalid input for public_keys. Reason: duplicate key name 'k'.",
    ),
    (
        {"public_keys": [{"name": "k", "key": "ssh-dss AAAAB3NzaC1kc3MAAACBAP"}]},
        "Invalid input for public_keys. Reason: key 'k' is not an OpenSSH public key.",
    ),
    (
        {"public_keys": [{"name": "k", "key": "ssh-ed25519 not-base64!"}]},
        "Invalid input for public_keys. Reason: key 'k' is not an OpenSSH public key.",
    ),
    (  # the blob says ssh-rsa, the line says ssh-ed25519
        {"public_keys": [{"name": "k", "key": "ssh-ed25519 " + ssh_key("ssh-rsa").split()[1]}]},
        "Invalid input for public_keys. Reason: key 'k' is not a valid ssh-ed25519 key.",
    ),
    ({"public_keys": [{"name": "", "key": ssh_key()}]}, None),
    ({"properties": ["a"]}, "Invalid input for properties. Reason: '['a']' is not a dictionary."),
    ({"properties": {"a": 1}}, None),
    ({"properties": {"a": "v" * 256}}, None),
    ({"properties": {f"k{i}": "v" for i in range(129)}}, None),
]


@pytest.mark.parametrize(("attrs", "message"), BAD)
def test_bad_metadata_is_a_400_and_writes_nothing(
    api: Api, attrs: dict[str, Any], message: str | None
) -> None:
    _register(api)
    port = api.port(api.network()["id"])
    revision = api.client.app.state.db.revision()
    body = {"name": "vm1", "host": "h1", "port_ids": [port["id"]], **attrs}
    r = api.post("/fabric/v1/workloads", {"workload": body})
    assert_error(r, 400, "HTTPBadRequest", message)
    assert api.get("/fabric/v1/workloads").json()["workloads"] == []
    assert api.client.app.state.db.revision() == revision  # the port is not bound either
