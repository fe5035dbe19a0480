"""Account commands: ``users create|list|disable|enable|reset-password|grant|revoke|committees``.

A new or reset account gets a one-time password, printed once on stdout (and nowhere else):
the person must choose their own at the first login.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

ROLE_HELP = "mediator | head (committee roles) · command | admin (global roles)"


@contextmanager
def _accounts() -> Iterator[Any]:
    from consumers.accounts.model import AccountError
    from consumers.db import make_engine, upgrade
    from fengqiao.cli import fail, settings
    from fengqiao.workbench import account_service

    s = settings()
    engine = make_engine(s.effective_database_url())
    try:
        upgrade(engine)
        yield account_service(s, engine)
    except AccountError as err:
        raise fail(str(err)) from None
    finally:
        engine.dispose()


def _roles(acc: Any) -> str:
    return ", ".join(f"{g.role}@{g.committee_id}" if g.committee_id else g.role for g in acc.grants)


def register(app: typer.Typer) -> None:
    users = typer.Typer(help="Personal accounts for the workbench and the command center.")
    app.add_typer(users, name="users", no_args_is_help=True)

    @users.command("create")
    def create(
        username: Annotated[str, typer.Argument(help="Login name: a-z 0-9 . _ -")],
        role: Annotated[str, typer.Option(help=ROLE_HELP)] = "mediator",
        committee: Annotated[
            list[str] | None,
            typer.Option(help="Catalogue committee id (repeat for several); committee roles only"),
        ] = None,
        name: Annotated[str | None, typer.Option(help="Display name shown to colleagues")] = None,
    ) -> None:
        """Create an account and print its one-time password (shown once)."""
        from fengqiao.cli import console

        with _accounts() as accounts:
            acc, secret = accounts.create(username, role, committee or (), name)
        console.print(
            f"created [bold]{acc.username}[/] ({acc.account_id}): {_roles(acc)}\n"
            "one-time password (shown once; the person chooses their own at first login):"
        )
        print(secret)

    @users.command("list")
    def list_() -> None:
        """List accounts: username, id, roles, state. Never a password or its hash."""
        from rich.table import Table

        from fengqiao.cli import console, output_console

        with _accounts() as accounts:
            found = accounts.store.list_accounts()
        if not found:
            console.print("no accounts (create one with `fengqiao users create`)")
            return
        table = Table("username", "account id", "roles", "state")
        for a in found:
            state = (
                "disabled"
                if a.disabled
                else "must change password"
                if a.must_change_password
                else "active"
            )
            table.add_row(a.username, a.account_id, _roles(a), state)
        output_console(stderr=True).print(table)

    @users.command("disable")
    def disable(username: Annotated[str, typer.Argument()]) -> None:
        """Disable an account: its sessions end at once, its logins are refused."""
        from fengqiao.cli import console

        with _accounts() as accounts:
            ended = accounts.disable(username)
        console.print(f"disabled {username.strip()}; {ended} session(s) ended")

    @users.command("enable")
    def enable(username: Annotated[str, typer.Argument()]) -> None:
        """Enable a disabled account again."""
        from fengqiao.cli import console

        with _accounts() as accounts:
            accounts.enable(username)
        console.print(f"enabled {username.strip()}")

    @users.command("reset-password")
    def reset_password(username: Annotated[str, typer.Argument()]) -> None:
        """Give an account a new one-time password (printed once); its sessions end."""
        from fengqiao.cli import console

        with _accounts() as accounts:
            secret = accounts.reset_password(username)
        console.print(
            f"new one-time password for {username.strip()} "
            "(shown once; to be replaced at the next login):"
        )
        print(secret)

    @users.command("grant")
    def grant(
        username: Annotated[str, typer.Argument()],
        role: Annotated[str, typer.Option(help=ROLE_HELP)],
        committee: Annotated[str | None, typer.Option(help="Catalogue committee id")] = None,
    ) -> None:
        """Give an account a role (in a committee, for mediator and head)."""
        from fengqiao.cli import console

        with _accounts() as accounts:
            acc = accounts.grant(username, role, committee)
        console.print(f"{acc.username}: {_roles(acc)}")

    @users.command("revoke")
    def revoke(
        username: Annotated[str, typer.Argument()],
        role: Annotated[str, typer.Option(help=ROLE_HELP)],
        committee: Annotated[str | None, typer.Option(help="Catalogue committee id")] = None,
    ) -> None:
        """Take a role away from an account."""
        from fengqiao.cli import console

        with _accounts() as accounts:
            acc = accounts.revoke(username, role, committee)
        console.print(f"{acc.username}: {_roles(acc) or 'no roles'}")

    @users.command("committees")
    def committees() -> None:
        """The catalogue's committees: the ids --committee accepts, with their names."""
        from rich.table import Table

        from fengqiao.cli import console, settings
        from schemas.reference.catalogue import load_catalogue

        cat = load_catalogue(settings().catalogue_path)
        table = Table("committee id", "name", "type")
        for c in sorted(cat.committees.values(), key=lambda c: c.id):
            table.add_row(c.id, c.name, c.type)
        console.print(table)
