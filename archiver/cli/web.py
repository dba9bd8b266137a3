"""`archiver serve` (the web app), `archiver users` and `archiver tokens`.

Passwords never come from arguments (they would sit in shell history and the
process list): they are prompted for, or read from an environment variable
named with --password-env. API tokens are printed once and stored hashed.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from typing import Any

import click
from rich.table import Table

from archiver.cli.context import CliContext, pass_cli, print_json
from archiver.errors import UsageError
from archiver.users import ROLES, UserService

DEFAULT_PORT = 8080


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_warnings(host: str, insecure_cookies: bool) -> list[str]:
    """What to shout before serving: anything reachable from other machines."""
    if is_loopback(host):
        return []
    warnings = [
        f"WARNING: listening on {host}, reachable from other machines. This server speaks "
        "plain HTTP: put a TLS-terminating proxy in front (docs/web.md), or passwords, "
        "session cookies and archived content cross the network in clear."
    ]
    if insecure_cookies:
        warnings.append(
            "WARNING: --insecure-cookies on a non-loopback address: session cookies will be "
            "sent over plain HTTP. Use it only for local testing."
        )
    return warnings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs TLS in front.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--threads", type=click.IntRange(1, 256), default=16, show_default=True,
              help="Worker threads (waitress) / concurrent requests.")
@click.option("--insecure-cookies", is_flag=True,
              help="Send the session cookie without Secure: only to try the app over plain "
                   "http on this machine.")
@click.option("--trusted-proxies", type=click.IntRange(0, 5), default=0, show_default=True,
              help="Trust this many X-Forwarded-For/-Proto hops (a TLS proxy in front).")
@click.option("--server", "server_name", type=click.Choice(["auto", "waitress", "werkzeug"]),
              default="auto", show_default=True,
              help="WSGI server: waitress if installed, else werkzeug's threaded server.")
@pass_cli
def serve(cli: CliContext, host: str, port: int, threads: int, insecure_cookies: bool,
          trusted_proxies: int, server_name: str) -> None:
    """Run the compliance officer's web app and the JSON API (/api/v1)."""
    from archiver.web.app import create_app
    from archiver.web.state import WebConfig

    archive = cli.archive()
    if not UserService(archive).list_users():
        click.echo("note: no users yet: add one with `archiver users add NAME --role admin`",
                   err=True)
    for warning in bind_warnings(host, insecure_cookies):
        click.secho(warning, fg="red", bold=True, err=True)
    config = WebConfig(secure_cookies=not insecure_cookies, trusted_proxies=trusted_proxies)
    app = create_app(archive, config)
    if not insecure_cookies and trusted_proxies == 0:
        click.echo("note: session cookies are Secure: browsers send them over https (and to "
                   "http://localhost); use --insecure-cookies to try it over plain http",
                   err=True)
    run_server(app, host, port, threads, server_name)


def run_server(app: Any, host: str, port: int, threads: int, server_name: str = "auto") -> None:
    """Serve until interrupted, with a multi-threaded WSGI server."""
    if server_name in ("auto", "waitress"):
        try:
            import waitress
        except ImportError:
            if server_name == "waitress":
                raise UsageError("waitress is not installed: pip install waitress") from None
        else:
            click.echo(f"serving on http://{host}:{port} (waitress, {threads} threads)", err=True)
            waitress.serve(app, host=host, port=port, threads=threads, ident="archiver")
            return
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True)
    click.echo(f"serving on http://{host}:{server.server_port} (werkzeug, threaded)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _password(password_env: str | None, confirm: bool = True) -> str:
    if password_env:
        value = os.environ.get(password_env)
        if not value:
            raise UsageError(f"environment variable {password_env} is empty or not set")
        return value
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password: set it in an environment "
                         "variable and name it with --password-env")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=confirm))


@click.group("users")
def users_group() -> None:
    """Users of the web app and API (admin, officer, auditor)."""


@users_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="admin: everything; officer: search, view, holds, exports; "
                   "auditor: search, view, the audit trail.")
@click.option("--password-env", metavar="NAME",
              help="Read the password from this environment variable (else a prompt).")
@pass_cli
def users_add(cli: CliContext, username: str, role: str, password_env: str | None) -> None:
    """Add a user; the password is prompted for (or read from --password-env)."""
    password = _password(password_env)
    user = UserService(cli.archive()).add(username, role, password)
    click.echo(f"user {user.username} added as {user.role_title}")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def users_list(cli: CliContext, as_json: bool) -> None:
    """Every user with their role and state."""
    found = UserService(cli.archive()).list_users()
    if as_json:
        print_json(found)
        return
    table = Table("user", "role", "state", "last sign-in", "tokens", "added by")
    for user in found:
        table.add_row(user["username"], user["role"],
                      "disabled" if user["disabled"] else "active",
                      str(user["last_login_at"] or "never")[:19], str(user["active_tokens"]),
                      user["created_by"])
    cli.console.print(table)


@users_group.command("disable")
@click.argument("username")
@pass_cli
def users_disable(cli: CliContext, username: str) -> None:
    """Disable a user: their sessions end now, their tokens stop working."""
    user = UserService(cli.archive()).set_disabled(username, True)
    click.echo(f"user {user.username} disabled")


@users_group.command("enable")
@click.argument("username")
@pass_cli
def users_enable(cli: CliContext, username: str) -> None:
    """Enable a disabled user again."""
    user = UserService(cli.archive()).set_disabled(username, False)
    click.echo(f"user {user.username} enabled")


@users_group.command("set-password")
@click.argument("username")
@click.option("--password-env", metavar="NAME",
              help="Read the password from this environment variable (else a prompt).")
@pass_cli
def users_set_password(cli: CliContext, username: str, password_env: str | None) -> None:
    """Set a new password; every session of the user ends."""
    UserService(cli.archive()).set_password(username, _password(password_env))
    click.echo(f"password of {username} changed")


@click.group("tokens")
def tokens_group() -> None:
    """API tokens for scripts (shown once, stored hashed)."""


@tokens_group.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (shown in lists).")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def tokens_create(cli: CliContext, username: str, name: str, as_json: bool) -> None:
    """Create a token acting as USERNAME (with their role). It is printed once only."""
    row, token = UserService(cli.archive()).create_token(username, name)
    if as_json:
        print_json({**row, "token": token})
        return
    click.echo(token)
    click.echo(f"token {row['id']} for {row['username']} ({name}): store it now, it is not "
               "shown again", err=True)


@tokens_group.command("list")
@click.option("--user", "username", help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def tokens_list(cli: CliContext, username: str | None, as_json: bool) -> None:
    """Tokens (never the tokens themselves: their first characters)."""
    found = UserService(cli.archive()).tokens(username)
    if as_json:
        print_json(found)
        return
    table = Table("id", "user", "name", "starts with", "created", "last used", "revoked")
    for token in found:
        table.add_row(str(token["id"]), token["username"], token["name"], token["prefix"],
                      str(token["created_at"])[:19], str(token["last_used_at"] or "never")[:19],
                      str(token["revoked_at"] or "")[:19])
    cli.console.print(table)


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@pass_cli
def tokens_revoke(cli: CliContext, token_id: int) -> None:
    """Revoke a token by its id (see `archiver tokens list`)."""
    revoked = UserService(cli.archive()).revoke_token(token_id)
    click.echo(f"token {token_id} of {revoked['username']} revoked")
