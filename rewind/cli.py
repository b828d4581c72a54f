"""The ``rewind`` command line: the entry point that wires settings, core and the emulator together."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from core.connection import graph_config
from core.doctor import DoctorReport, diagnose
from core.errors import RewindError
from core.graph import GraphError
from core.logs import configure_logging
from core.settings import load_settings
from rewind import (
    cli_alerts,  # noqa: F401 - registers baseline, alerts, summary and destinations
    cli_diff,  # noqa: F401 - registers diff and history
    cli_repository,  # noqa: F401 - registers the repository commands
    cli_restore,  # noqa: F401 - registers restore and audit
    cli_schedule,  # noqa: F401 - registers scheduler and status
    cli_serve,  # noqa: F401 - registers serve (the Slack app)
)
from rewind.cli_common import JsonOption, TenantOption, app, out, print_json


@app.command()
def doctor(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Check the configuration, get a token, call Graph and list missing permissions."""
    config = graph_config(load_settings(), tenant_id=tenant)
    report = asyncio.run(diagnose(config))
    if as_json:
        print_json(report.to_json())
    else:
        render_doctor(report)
    raise typer.Exit(0 if report.ok else 1)


def render_doctor(report: DoctorReport) -> None:
    out.print(f"[bold]Tenant[/] {report.tenant_id}  [dim]cloud {report.cloud}[/]")
    out.print(f"[dim]authority {report.authority}  graph {report.graph_url}[/]")
    for check in report.checks:
        mark = "[green]ok[/]  " if check.ok else "[red]FAIL[/]"
        out.print(f"{mark} {check.name}: {check.detail}", highlight=False)
    if report.granted_permissions:
        out.print(f"[bold]Granted[/] {', '.join(report.granted_permissions)}", highlight=False)
    for title, missing, consequence in (
        ("backup", report.missing_backup, "backups will be incomplete"),
        ("restore", report.missing_restore, "restores of these objects will be refused"),
    ):
        if not missing:
            out.print(f"[green]ok[/]   every permission {title} needs is granted")
            continue
        table = Table(title=f"Missing for {title}: {consequence}", title_justify="left")
        table.add_column("application permission")
        table.add_column("needed for")
        for item in missing:
            table.add_row(item["permission"], item["covers"])
        out.print(table)
    if report.missing_backup or report.missing_restore:
        out.print(
            "Grant them under App registrations > API permissions > Microsoft Graph (Application), then "
            "'Grant admin consent'."
        )


@app.command()
def emulator(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8443,
    users: Annotated[int, typer.Option(help="Users per generated tenant (up to 100,000).")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the deterministic tenant generator.")] = 1,
    tls: Annotated[
        bool, typer.Option("--tls", help="Serve HTTPS from a generated CA (MSAL needs https).")
    ] = False,
    tenants: Annotated[int, typer.Option(help="How many tenants to host.")] = 1,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    state_dir: Annotated[Path | None, typer.Option(help="Where the CA and client certificate go.")] = None,
    info_file: Annotated[
        Path | None, typer.Option(help="Write URLs, tenant ids and credentials as JSON.")
    ] = None,
    throttling: Annotated[bool, typer.Option(help="Model Graph's throttling.")] = True,
    latency: Annotated[bool, typer.Option(help="Model Graph's response latency.")] = True,
) -> None:
    """Run the Microsoft Graph tenant emulator (for tests, benchmarks and demos; never for production)."""
    from emulator.config import EmulatorConfig
    from emulator.server import serve

    if not 1 <= users <= 100_000:
        raise RewindError(f"--users {users} is out of range: choose 1 to 100000")
    config = EmulatorConfig.realistic().with_switches(throttling=throttling, latency=latency)
    serve(
        host=host,
        port=port,
        users=users,
        seed=seed,
        tenants=tenants,
        tls=tls,
        state_dir=state_dir,
        info_file=info_file,
        config=config,
    )


def fail(message: str, code: int = 2) -> NoReturn:
    Console(stderr=True).print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise SystemExit(code)


def main() -> None:
    configure_logging(os.environ.get("REWIND_LOG_LEVEL", "WARNING"))
    try:
        app()
    except (RewindError, GraphError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("REWIND_DEBUG"):
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (set REWIND_DEBUG=1 for the traceback)", 70)


if __name__ == "__main__":
    main()
