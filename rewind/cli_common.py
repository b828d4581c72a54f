"""What every ``rewind`` command shares: the Typer app, the console and the common options."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(
    name="rewind",
    help="Backup, drift alerts and approval-gated restore for Microsoft Entra ID.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object with stable field names.")]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="Tenant id or domain; defaults to REWIND_TENANT_ID.")
]


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
