"""Who is asking: the authenticated caller of one request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_write(self) -> bool:
        """Reader-only callers may look but not change anything."""
        return bool(self.roles & {"admin", "member"})

    @classmethod
    def admin(cls, project_id: str = "admin-project") -> RequestContext:
        """A context for in-process administrative work (bootstrap, tests)."""
        return cls("admin-user", "admin", project_id, "admin", frozenset({"admin"}))
