"""Alert commands: ``baseline set|show``, ``alerts check|rules``, ``summary`` and ``destinations``."""

from __future__ import annotations

import getpass
import io
from typing import Annotated

import typer
from rich.table import Table

from bot.destinations import ConsoleNotifier
from bot.messages import Message, alert_message, summary_message
from core.alerts.aggregate import aggregate
from core.alerts.analysis import analyse
from core.alerts.baseline import current, drift, pin
from core.alerts.rules import RuleBook, RuleSet, load_rules
from core.alerts.summary import build_summary
from core.catalog.notify import (
    ALL_TENANTS,
    PLATFORMS,
    SEVERITIES,
    DestinationRow,
    add_destination,
    list_destinations,
    pause_destination,
    remove_destination,
    resume_destination,
)
from core.errors import ConfigurationError, RewindError
from core.settings import RewindSettings, load_settings
from core.timeref import resolve, split_references
from rewind.cli_common import JsonOption, TenantOption, app, out, print_json
from rewind.cli_diff import reference_now
from rewind.cli_repository import tenant_context
from rewind.wiring import catalog_session

baseline_app = typer.Typer(
    help="The approved state of a tenant; summaries report drift from it.", no_args_is_help=True
)
alerts_app = typer.Typer(help="Alert rules, and what they say about a diff.", no_args_is_help=True)
destinations_app = typer.Typer(help="Where alerts and daily summaries go.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")
app.add_typer(alerts_app, name="alerts")
app.add_typer(destinations_app, name="destinations")

RulesOption = Annotated[
    str | None,
    typer.Option("--rules", help="A rule file (TOML); default REWIND_ALERT_RULES, else the shipped rules."),
]
SeverityOption = Annotated[str, typer.Option("--min-severity", help="critical, warning or info.")]


def _who() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return None


def _render(message: Message) -> None:
    buffer = io.StringIO()
    ConsoleNotifier(buffer).show(message)
    out.print(buffer.getvalue().rstrip("\n"), highlight=False, markup=False, soft_wrap=True)


# --- baseline ----------------------------------------------------------------------------------------------


@baseline_app.command("set")
def baseline_set(
    snapshot: Annotated[
        list[str], typer.Argument(help="Snapshot id or prefix, 'latest', or a time ('2h ago').")
    ],
    by: Annotated[str | None, typer.Option("--by", help="Who approves it; default: you.")] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pin a snapshot as the tenant's approved state."""
    settings = load_settings()
    refs = split_references(snapshot)
    if len(refs) != 1:
        raise RewindError(
            f"baseline set takes one snapshot, not {len(refs)}: e.g. `rewind baseline set latest`"
        )
    with catalog_session(settings) as catalog:
        tenant_id = _tenant(settings, tenant)
        row = resolve(catalog, tenant_id, refs[0], reference_now())
        pinned = pin(catalog, tenant_id, row, by or _who())
    if as_json:
        print_json({**pinned.to_json(), "snapshot_created_at": row.created_at.isoformat()})
        return
    out.print(
        f"baseline of {tenant_id} is snapshot {row.snapshot_id[:12]} ({row.created_at:%Y-%m-%d %H:%M} UTC)"
        + (f", approved by {pinned.set_by}" if pinned.set_by else ""),
        highlight=False,
    )


@baseline_app.command("show")
def baseline_show(
    with_drift: Annotated[
        bool, typer.Option("--drift/--no-drift", help="Compare it with the latest snapshot.")
    ] = True,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the tenant's baseline and how far the latest snapshot has drifted from it."""
    settings = load_settings()
    with tenant_context(settings, tenant) as ctx:
        pinned = current(ctx.catalog, ctx.tenant_id)
        measured = drift(ctx.catalog, ctx.repository, ctx.tenant_id) if pinned and with_drift else None
    if as_json:
        print_json(
            {
                "tenant_id": ctx.tenant_id,
                "baseline": pinned.to_json() if pinned else None,
                "drift": measured.to_json() if measured else None,
            }
        )
        return
    if pinned is None:
        out.print(f"no baseline for {ctx.tenant_id}: set one with `rewind baseline set latest`")
        return
    who = f" by {pinned.set_by}" if pinned.set_by else ""
    at = f"{pinned.set_at:%Y-%m-%d %H:%M}"
    out.print(
        f"baseline of {ctx.tenant_id}: snapshot {pinned.snapshot_id[:12]}, set {at}{who}",
        highlight=False,
    )
    if measured is None:
        return
    if measured.error:
        out.print(f"[yellow]{measured.error}[/]", highlight=False)
        return
    if not measured.total:
        out.print("no drift: the latest snapshot matches the baseline")
        return
    table = Table(
        "type", "added", "removed", "modified", title="Drift from the baseline", title_justify="left"
    )
    for name, counts in measured.counts.items():
        table.add_row(name, *(f"{counts[k]:,}" for k in ("added", "removed", "modified")))
    out.print(table)


# --- alerts ------------------------------------------------------------------------------------------------


def _rules(path: str | None) -> RuleSet:
    return load_rules(path) if path else RuleBook.from_environment().current


@alerts_app.command("check")
def alerts_check(
    refs: Annotated[
        list[str],
        typer.Argument(
            metavar="FROM TO", help="Two snapshots: ids, prefixes, 'latest', or times ('2h ago')."
        ),
    ],
    rules_file: RulesOption = None,
    min_severity: SeverityOption = "info",
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate the alert rules on a diff and show the alert it would send (nothing is sent or recorded)."""
    if min_severity not in SEVERITIES:
        raise RewindError(f"unknown severity {min_severity!r}: choose {', '.join(SEVERITIES)}")
    words = split_references(refs)
    if len(words) != 2:
        raise RewindError(f"alerts check takes two snapshots, FROM and TO, not {len(words)}")
    rules = _rules(rules_file)
    settings = load_settings()
    now = reference_now()
    with tenant_context(settings, tenant) as ctx:
        before = resolve(ctx.catalog, ctx.tenant_id, words[0], now)
        after = resolve(ctx.catalog, ctx.tenant_id, words[1], now)
        analysis = analyse(ctx.catalog, ctx.repository, ctx.tenant_id, before, after, rules)
    alert = aggregate(
        analysis.findings,
        tenant_id=analysis.tenant_id,
        before=analysis.before,
        after=analysis.after,
        min_severity=min_severity,
        actor_names=analysis.actor_names,
    )
    message = alert_message(alert, now=now) if alert else None
    if as_json:
        print_json(
            {
                "from": analysis.before.to_json(),
                "to": analysis.after.to_json(),
                "changes": analysis.changes,
                "rules": rules.source,
                "alert": alert.to_json() if alert else None,
                "message": message.to_json() if message else None,
            }
        )
    elif message is None:
        out.print(f"{analysis.changes:,} changes, none at or above {min_severity}: no alert", highlight=False)
    else:
        _render(message)


@alerts_app.command("rules")
def alerts_rules(rules_file: RulesOption = None, as_json: JsonOption = False) -> None:
    """Check a rule file and list its rules (a bad file: one line naming the line, exit 2)."""
    rules = _rules(rules_file)
    if as_json:
        print_json(
            {
                "source": rules.source,
                "mass_deletion": {
                    "threshold": rules.mass_deletion.threshold,
                    "severity": rules.mass_deletion.severity,
                    "enabled": rules.mass_deletion.enabled,
                },
                "rules": [
                    {"id": r.id, "severity": r.severity, "title": r.title, "line": r.line}
                    for r in rules.rules
                ],
            }
        )
        return
    table = Table(
        "id", "severity", "title", title=f"{len(rules.rules)} rules from {rules.source}", title_justify="left"
    )
    for rule in rules.rules:
        table.add_row(rule.id, rule.severity, rule.title)
    out.print(table)
    mass = rules.mass_deletion
    if mass.enabled:
        out.print(f"mass deletion: {mass.threshold} or more objects of one type removed -> {mass.severity}")


@app.command("summary")
def summary_command(
    rules_file: RulesOption = None, tenant: TenantOption = None, as_json: JsonOption = False
) -> None:
    """Today's drift summary: the last 24 h of changes, drift from the baseline, backup health."""
    rules = _rules(rules_file)
    settings = load_settings()
    now = reference_now()
    with tenant_context(settings, tenant) as ctx:
        summary = build_summary(ctx.catalog, ctx.repository, ctx.tenant_id, rules, now)
    message = summary_message(summary)
    if as_json:
        print_json({"summary": summary.to_json(), "message": message.to_json()})
    else:
        _render(message)


# --- destinations ------------------------------------------------------------------------------------------


def _tenant(settings: RewindSettings, tenant: str | None) -> str:
    tenant_id = tenant or settings.tenant_id
    if not tenant_id:
        raise ConfigurationError(
            "no tenant: set REWIND_TENANT_ID or pass --tenant (destinations also take '*')"
        )
    return tenant_id


@destinations_app.command("add")
def destinations_add(
    platform: Annotated[str, typer.Argument(help=f"One of {', '.join(PLATFORMS)}.")],
    channel: Annotated[str, typer.Argument(help="The channel or conversation id.")],
    tenant: Annotated[
        str | None, typer.Option("--tenant", help=f"Tenant id, or '{ALL_TENANTS}' for every tenant.")
    ] = None,
    min_severity: SeverityOption = "warning",
    summary_time: Annotated[
        str, typer.Option("--summary-time", help="Local time of the daily summary.")
    ] = "08:00",
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone, e.g. Europe/Paris.")] = "UTC",
    alerts: Annotated[bool, typer.Option("--alerts/--no-alerts", help="Send alerts here.")] = True,
    summary: Annotated[
        bool, typer.Option("--summary/--no-summary", help="Send the daily summary here.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Subscribe a channel to a tenant's alerts and summaries (again: update its settings)."""
    settings = load_settings()
    with catalog_session(settings) as catalog:
        try:
            row, created = add_destination(
                catalog,
                platform=platform,
                channel=channel,
                tenant_id=_tenant(settings, tenant),
                alerts=alerts,
                summary=summary,
                min_severity=min_severity,
                summary_time=summary_time,
                timezone=timezone,
                created_by=_who(),
            )
        except ValueError as exc:
            raise RewindError(str(exc)) from None
    if as_json:
        print_json({**row.to_json(), "created": created})
    else:
        verb = "added" if created else "updated"
        out.print(f"{verb} {row.destination_id}: {_describe(row)}", highlight=False)


@destinations_app.command("list")
def destinations_list(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Only this tenant's (and the '*') ones.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List destinations."""
    with catalog_session(load_settings()) as catalog:
        rows = list_destinations(catalog, tenant)
    if as_json:
        print_json([row.to_json() for row in rows])
        return
    if not rows:
        out.print("no destinations: add one with `rewind destinations add test my-channel --tenant '*'`")
        return
    table = Table("id", "platform", "channel", "tenant", "sends", "min severity", "summary at", "state")
    for row in rows:
        sends = "+".join(k for k, on in (("alerts", row.alerts), ("summary", row.summary)) if on) or "-"
        state = (
            f"paused ({row.paused_reason})"
            if row.paused and row.paused_reason
            else "paused"
            if row.paused
            else "on"
        )
        table.add_row(
            row.destination_id,
            row.platform,
            row.channel,
            row.tenant_id,
            sends,
            row.min_severity,
            f"{row.summary_time} {row.timezone}",
            state,
        )
    out.print(table)


@destinations_app.command("remove")
def destinations_remove(
    destination: Annotated[str, typer.Argument(help="Destination id (or a unique prefix).")],
    as_json: JsonOption = False,
) -> None:
    """Stop sending to a destination."""
    with catalog_session(load_settings()) as catalog:
        row = remove_destination(catalog, destination)
    if as_json:
        print_json({**row.to_json(), "removed": True})
    else:
        out.print(f"removed {row.destination_id}: {_describe(row)}", highlight=False)


@destinations_app.command("pause")
def destinations_pause(
    destination: Annotated[str, typer.Argument(help="Destination id (or a unique prefix).")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for whoever looks later.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Hold alerts and summaries for a destination until it is resumed."""
    with catalog_session(load_settings()) as catalog:
        row = pause_destination(catalog, destination, reason)
    if as_json:
        print_json(row.to_json())
    else:
        out.print(f"paused {row.destination_id}: {_describe(row)}", highlight=False)


@destinations_app.command("resume")
def destinations_resume(
    destination: Annotated[str, typer.Argument(help="Destination id (or a unique prefix).")],
    as_json: JsonOption = False,
) -> None:
    """Send to a paused destination again."""
    with catalog_session(load_settings()) as catalog:
        row = resume_destination(catalog, destination)
    if as_json:
        print_json(row.to_json())
    else:
        out.print(f"resumed {row.destination_id}: {_describe(row)}", highlight=False)


def _describe(row: DestinationRow) -> str:
    tenant = "every tenant" if row.tenant_id == ALL_TENANTS else f"tenant {row.tenant_id}"
    sends = [
        *([f"alerts at {row.min_severity} or above"] if row.alerts else []),
        *([f"a summary at {row.summary_time} {row.timezone}"] if row.summary else []),
    ]
    return f"{row.platform} {row.channel} gets {' and '.join(sends) or 'nothing'} for {tenant}"
