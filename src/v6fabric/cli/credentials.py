"""Where and as whom the API client connects: the standard OS_* settings, or the openrc file.

Their own module because finding them (environment, ``admin-openrc.sh`` that ``v6fabric up``
wrote, shell quoting) is apart from talking to the API (``cli.client``), and the agent and the
labs build them without a client.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from v6fabric.cli.errors import ConfigError
from v6fabric.settings import DEFAULT_STATE_DIR  # stdlib only: where `v6fabric up` writes

OPENRC_NAME = "admin-openrc.sh"


def parse_openrc(text: str) -> dict[str, str]:
    """The `export OS_X=value` lines of an openrc file, with shell quoting undone."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("export "):
            line = line[len("export ") :].strip()
        if not line.startswith("OS_") or "=" not in line:
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if len(words) == 1 and "=" in words[0]:
            key, value = words[0].split("=", 1)
            values[key] = value
    return values


def identity_v3_url(auth_url: str) -> str:
    """OS_AUTH_URL with or without /v3 (both are common in openrc files) -> the v3 root."""
    url = auth_url.rstrip("/")
    return url if url.endswith("/v3") else f"{url}/v3"


@dataclass(frozen=True)
class Credentials:
    """Who to authenticate as and where: the standard OS_* settings."""

    auth_url: str
    username: str
    password: str
    project_name: str
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    region_name: str | None = None
    interface: str = "public"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """OS_* variables; without OS_AUTH_URL, the admin-openrc.sh that `v6fabric up` wrote.

        Variables set in the environment win over the file, so `OS_REGION_NAME=x` still works.
        """
        env = dict(os.environ if environ is None else environ)
        values: dict[str, str] = {}
        openrc = Path(env.get("V6FABRIC_STATE_DIR") or DEFAULT_STATE_DIR) / OPENRC_NAME
        if not env.get("OS_AUTH_URL"):
            try:
                values.update(parse_openrc(openrc.read_text()))
            except FileNotFoundError:
                pass
            except OSError as exc:  # mode 0600: readable by the user who ran `v6fabric up`
                raise ConfigError(f"Cannot read {openrc}: {exc.strerror}") from exc
        values.update({k: v for k, v in env.items() if k.startswith("OS_") and v})
        required = ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME")
        missing = [name for name in required if not values.get(name)]
        if missing:
            raise ConfigError(
                f"Missing {', '.join(missing)}: source an openrc file (`source {openrc}` after "
                "`v6fabric up`) or set V6FABRIC_STATE_DIR to the server's state directory"
            )
        interface = values.get("OS_INTERFACE", "public")
        return cls(
            auth_url=values["OS_AUTH_URL"],
            username=values["OS_USERNAME"],
            password=values["OS_PASSWORD"],
            project_name=values["OS_PROJECT_NAME"],
            user_domain_name=values.get("OS_USER_DOMAIN_NAME", "Default"),
            project_domain_name=values.get("OS_PROJECT_DOMAIN_NAME", "Default"),
            region_name=values.get("OS_REGION_NAME") or None,
            interface=interface.removesuffix("URL"),  # publicURL, the v2 spelling, still seen
        )
