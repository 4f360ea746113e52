"""The administrator's credential files: an openrc for shells and a clouds.yaml for SDK/CLI.

They hold a password, so they are created 0600 from the first byte (``mkstemp``) and moved into
place with ``os.replace``; a reader never sees a partial or world-readable file.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from pathlib import Path

from v6fabric.domain.constants import DEFAULT_DOMAIN_NAME
from v6fabric.settings import Settings

OPENRC_NAME = "admin-openrc.sh"
CLOUDS_NAME = "clouds.yaml"
CLOUD_NAME = "v6fabric"


def write_private_temp(path: Path, text: str) -> Path:
    """Write ``text`` to a new 0600 temp file beside ``path``; the caller renames or drops it."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(temp)


def _auth(settings: Settings, username: str, password: str, project: str) -> dict[str, str]:
    return {
        "auth_url": settings.identity_url,
        "username": username,
        "password": password,
        "project_name": project,
        "user_domain_name": DEFAULT_DOMAIN_NAME,
        "project_domain_name": DEFAULT_DOMAIN_NAME,
    }


def openrc_text(settings: Settings, username: str, password: str, project: str) -> str:
    auth = _auth(settings, username, password, project)
    variables = {f"OS_{key.upper()}": value for key, value in auth.items()}
    variables |= {"OS_IDENTITY_API_VERSION": "3", "OS_REGION_NAME": settings.region}
    lines = [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    return "# v6fabric credentials; source this file\n" + "\n".join(lines) + "\n"


def clouds_text(settings: Settings, username: str, password: str, project: str) -> str:
    quote = json.dumps  # a JSON string is a valid double-quoted YAML scalar
    auth = _auth(settings, username, password, project)
    auth_lines = "".join(f"      {key}: {quote(value)}\n" for key, value in auth.items())
    return (
        f"clouds:\n  {CLOUD_NAME}:\n    auth:\n{auth_lines}"
        f"    region_name: {quote(settings.region)}\n"
        "    identity_api_version: 3\n"
        "    interface: public\n"
    )
