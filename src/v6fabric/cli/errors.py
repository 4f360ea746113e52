"""What the API client (``cli.client``) raises: a request not answered, or answered with an error.

Their own module because the client, its credentials (``cli.credentials``) and every caller
(the CLI, the agent's client, the labs) catch them without needing the rest of the client.
"""

from __future__ import annotations


class ClientError(Exception):
    """Anything that keeps a request from being answered; the CLI prints it and exits 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ClientError):
    """The client does not know where or as whom to connect."""


class ApiError(ClientError):
    """An error answer of the server (or no answer: status 0), with Neutron's error type."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type

    def __str__(self) -> str:
        if self.status:
            return f"{self.message} (HTTP {self.status} {self.type})"
        return f"{self.message} ({self.type})"
