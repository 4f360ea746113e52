"""Proxy mode: forward a guest's request to a Nova-compatible metadata API, as Neutron's
metadata agent does, with the instance id signed by the shared secret.

The backend trusts ``X-Instance-ID`` only with a valid ``X-Instance-ID-Signature``
(HMAC-SHA256 of the instance id under the secret), so a guest that reaches the backend some
other way cannot name another instance.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

import httpx

from v6fabric.hoststate.metadata import MetadataPort
from v6fabric.metadata.documents import TEXT, Answer

log = logging.getLogger(__name__)

BAD_GATEWAY = Answer(
    502,
    TEXT,
    b"502 Bad Gateway\n\nThe metadata service is unavailable: its backend did not answer.\n",
)


def sign(secret: bytes, instance_id: str) -> str:
    return hmac.new(secret, instance_id.encode(), hashlib.sha256).hexdigest()


def forward_headers(secret: bytes, port: MetadataPort, source: str) -> dict[str, str]:
    return {
        "X-Instance-ID": port.device_id,
        "X-Tenant-ID": port.project_id,
        "X-Instance-ID-Signature": sign(secret, port.device_id),
        "X-Forwarded-For": source.split("%", 1)[0],
    }


class BackendClient:
    """One HTTP client (connection pool) per configured backend."""

    def __init__(self, url: str, secret: bytes, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.secret = secret
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment must not see signed requests
        )

    async def forward(self, method: str, target: str, port: MetadataPort, source: str) -> Answer:
        try:
            reply = await self._client.request(
                method, self.url + target, headers=forward_headers(self.secret, port, source)
            )
        except httpx.HTTPError as exc:
            log.warning("metadata backend %s failed for %s: %r", self.url, port.device_id, exc)
            return BAD_GATEWAY
        content_type = reply.headers.get("content-type", TEXT)
        return Answer(reply.status_code, content_type, reply.content)

    async def close(self) -> None:
        await self._client.aclose()
