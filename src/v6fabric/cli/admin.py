"""``v6fabric admin``: projects, users and roles, straight in the state directory's database.

This works without a running API server (first users, a lost admin password), so unlike the rest
of the CLI it opens the store itself: run it as a user who may read and write the database.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from v6fabric.domain.errors import FabricError
from v6fabric.settings import Settings

if TYPE_CHECKING:
    from v6fabric.identity.service import IdentityService

admin_app = typer.Typer(
    help="Manage projects, users and roles directly in the local database (no API needed).",
    no_args_is_help=True,
)
project_app = typer.Typer(help="Projects (tenants).", no_args_is_help=True)
user_app = typer.Typer(help="Users and their passwords.", no_args_is_help=True)
role_app = typer.Typer(help="Role assignments: a user's role on a project.", no_args_is_help=True)
admin_app.add_typer(project_app, name="project")
admin_app.add_typer(user_app, name="user")
admin_app.add_typer(role_app, name="role")

out = Console()
err = Console(stderr=True)


class Role(StrEnum):
    admin = "admin"
    member = "member"
    reader = "reader"


StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="V6FABRIC_STATE_DIR",
        help="State directory holding the database (default: /var/lib/v6fabric).",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _fail(message: str) -> NoReturn:
    err.print(f"[red]Error:[/red] {escape(message)}")
    raise typer.Exit(1)


@contextmanager
def _identity(state_dir: Path | None) -> Iterator[IdentityService]:
    """The identity service over the state directory's (migrated) database.

    Server modules are imported here, not at the top, so other commands start fast.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from v6fabric.identity.service import IdentityService
    from v6fabric.store.db import Database, migrate

    settings = Settings.from_env(state_dir=state_dir)
    try:
        if settings.database_url is None:
            settings.state_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.db_url)
    except OSError as exc:
        _fail(f"cannot use state directory {settings.state_dir}: {exc}")
    try:
        migrate(db)
        yield IdentityService(db, settings)
    except FabricError as exc:
        _fail(exc.message)
    except (OSError, SQLAlchemyError) as exc:
        _fail(f"cannot use the database {settings.db_url}: {exc}")
    finally:
        db.dispose()


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def _read_password(path: Path) -> str:
    """The password in ``path`` (``-``: standard input) without its trailing newline."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read password file {path}: {exc.strerror}")
    password = text.rstrip("\r\n")
    if not password:
        _fail(f"password file {path} is empty")
    return password


# --- projects -------------------------------------------------------------------------------


@project_app.command("create")
def project_create(
    name: str,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    state_dir: StateDir = None,
    as_json: AsJson = False,
) -> None:
    """Create a project."""
    with _identity(state_dir) as identity:
        project = identity.create_project(name, description)
    if as_json:
        _print_json(project)
    else:
        out.print(f"Created project [bold]{escape(project['name'])}[/bold] ({project['id']})")


@project_app.command("list")
def project_list(state_dir: StateDir = None, as_json: AsJson = False) -> None:
    """List projects."""
    with _identity(state_dir) as identity:
        projects = identity.list_projects()
    if as_json:
        _print_json(projects)
        return
    table = Table("ID", "Name", "Enabled", "Description")
    for project in projects:
        table.add_row(
            project["id"],
            escape(project["name"]),
            "yes" if project["enabled"] else "no",
            escape(project["description"]),
        )
    out.print(table)


# --- users ----------------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    name: str,
    password_file: Annotated[
        Path, typer.Option(help="File holding the password ('-': standard input).")
    ],
    project: Annotated[
        str | None, typer.Option(help="Project (name or id): the user's default, with --role.")
    ] = None,
    role: Annotated[Role | None, typer.Option(help="Role on --project (default: member).")] = None,
    state_dir: StateDir = None,
    as_json: AsJson = False,
) -> None:
    """Create a user, optionally with a role on a project that becomes its default project."""
    password = _read_password(password_file)
    with _identity(state_dir) as identity:
        user = identity.create_user(name, password, project, role.value if role else None)
    if as_json:
        _print_json(user)
    else:
        out.print(f"Created user [bold]{escape(user['name'])}[/bold] ({user['id']})")


@user_app.command("list")
def user_list(state_dir: StateDir = None, as_json: AsJson = False) -> None:
    """List users with their roles."""
    with _identity(state_dir) as identity:
        users = identity.list_users()
    if as_json:
        _print_json(users)
        return
    table = Table("ID", "Name", "Enabled", "Roles (project: role)")
    for user in users:
        roles = ", ".join(f"{grant['project_name']}: {grant['role']}" for grant in user["roles"])
        table.add_row(
            user["id"], escape(user["name"]), "yes" if user["enabled"] else "no", escape(roles)
        )
    out.print(table)


# --- roles ----------------------------------------------------------------------------------

UserOption = Annotated[str, typer.Option("--user", help="User name or id.")]
ProjectOption = Annotated[str, typer.Option("--project", help="Project name or id.")]
RoleOption = Annotated[Role, typer.Option("--role", help="Role.")]


@role_app.command("add")
def role_add(
    user: UserOption, project: ProjectOption, role: RoleOption, state_dir: StateDir = None
) -> None:
    """Give a user a role on a project (no error if it already has it)."""
    with _identity(state_dir) as identity:
        identity.assign_role(user, project, role.value)
    out.print(f"{escape(user)} has role {role.value} on project {escape(project)}")


@role_app.command("remove")
def role_remove(
    user: UserOption, project: ProjectOption, role: RoleOption, state_dir: StateDir = None
) -> None:
    """Take a role away; running API servers notice within their token cache time."""
    with _identity(state_dir) as identity:
        identity.remove_role(user, project, role.value)
    out.print(f"Removed role {role.value} of {escape(user)} on project {escape(project)}")
