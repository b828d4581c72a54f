"""``rewind restore ...`` (plan, request, approve, reject, cancel, run, status, list) and ``rewind audit``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from core.errors import RewindError
from core.restore.executor import StepEvent
from core.restore.identity import Person, is_object_id
from core.restore.model import Action, Plan
from core.restore.service import RequestState, RequestView, RestoreService
from core.retention import parse_duration
from core.settings import RewindSettings, load_settings
from core.timeref import parse_time
from rewind.cli_common import JsonOption, TenantOption, app, out, print_json
from rewind.wiring import catalog_session, restore_service, tenant_guid

restore_app = typer.Typer(
    help="Restore objects from a snapshot: preview a plan, request it, have a second person approve it.",
    no_args_is_help=True,
)
app.add_typer(restore_app, name="restore")

Selector = Annotated[
    list[str],
    typer.Argument(
        metavar="SELECTOR...",
        help="An object (id, UPN, name), a type, 'deleted since 1h', 'type:conditionalAccessPolicy', ...",
        show_default=False,
    ),
]
FromOption = Annotated[
    str | None, typer.Option("--from", help="Snapshot: id, prefix, 'latest', or a time ('2h ago').")
]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as", envvar="REWIND_OPERATOR", help="Who you are: your email or Entra object id (REWIND_OPERATOR)."
    ),
]
RequestId = Annotated[str, typer.Argument(metavar="ID", help="Request id or a unique prefix.")]
_STATE_STYLE = {
    RequestState.PENDING: "yellow",
    RequestState.APPROVED: "cyan",
    RequestState.EXECUTING: "cyan",
    RequestState.SUCCEEDED: "green",
    RequestState.PARTIALLY_FAILED: "red",
    RequestState.FAILED: "red",
    RequestState.REJECTED: "red",
    RequestState.EXPIRED: "dim",
    RequestState.CANCELLED: "dim",
}
_OK_STATES = (RequestState.SUCCEEDED, RequestState.PENDING, RequestState.APPROVED)
T = TypeVar("T")


@contextmanager
def _service(settings: RewindSettings) -> Iterator[RestoreService]:
    with catalog_session(settings) as catalog:
        yield restore_service(settings, catalog)


def _served(settings: RewindSettings, act: Callable[[RestoreService], Awaitable[T]]) -> T:
    """What ``act`` returns, run with a restore service over the catalog (closed afterwards)."""

    async def go() -> T:
        with _service(settings) as service:
            return await act(service)

    return asyncio.run(go())


def person_of(value: str | None) -> Person:
    """``--as``: an email or an Entra object id."""
    text = (value or "").strip()
    if not text:
        raise RewindError("say who you are: --as YOUR_EMAIL (or set REWIND_OPERATOR)")
    if is_object_id(text):
        return Person.of(text, entra_id=text)
    if "@" in text and " " not in text:
        return Person.of(text, email=text)
    raise RewindError(f"--as {text!r} is neither an email nor an Entra object id")


# --- plan and request ------------------------------------------------------------------------------------


@restore_app.command()
def plan(
    selector: Selector,
    snapshot: FromOption = None,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Write the plan as CSV here.")] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Preview what a restore would do: counts by action, the riskiest items, warnings."""
    settings = load_settings()
    text = " ".join(selector)
    tenant_id = asyncio.run(tenant_guid(settings, tenant))
    made = _served(settings, lambda service: service.plan(tenant_id, text, snapshot=snapshot))
    json_path, csv_path = _save_plan(settings, made, csv_file)
    if as_json:
        print_json({**made.to_json(), "plan_hash": made.plan_hash})
        return
    render_plan(made)
    out.print(f"Full plan: {json_path}  CSV: {csv_path}", highlight=False, soft_wrap=True)
    out.print(f"[dim]plan hash {made.plan_hash}[/]", highlight=False)
    if made.writes():
        out.print(f"Request it with: rewind restore request {escape(text)} --as YOUR_EMAIL", highlight=False)


@restore_app.command()
def request(
    selector: Selector,
    snapshot: FromOption = None,
    person: AsOption = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask for a restore; a second person approves it with `rewind restore approve ID`."""
    settings = load_settings()
    requester = person_of(person)
    text = " ".join(selector)
    tenant_id = asyncio.run(tenant_guid(settings, tenant))
    view = _served(
        settings, lambda service: service.request(tenant_id, text, requester=requester, snapshot=snapshot)
    )
    if as_json:
        print_json(view.to_json())
        return
    render_plan(view.plan)
    out.print(
        f"Request [bold]{view.short_id}[/] is pending: it needs {view.required_approvals} approval(s) "
        f"from someone other than {escape(str(view.requester))}, before {_when(view.expires_at)}.",
        highlight=False,
    )
    out.print(f"Approve with: rewind restore approve {view.short_id} --as APPROVER_EMAIL", highlight=False)


# --- decisions ------------------------------------------------------------------------------------------


@restore_app.command()
def approve(
    request_id: RequestId,
    person: AsOption = None,
    no_run: Annotated[bool, typer.Option("--no-run", help="Approve only; run later with `run ID`.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Approve a request; the last approval it needs runs the restore (unless --no-run)."""
    settings = load_settings()
    approver = person_of(person)

    async def decide(service: RestoreService) -> RequestView:
        view = await service.approve(request_id, approver=approver)
        if view.state is RequestState.APPROVED and not no_run:
            if not as_json:
                out.print(f"Request {view.short_id} approved: restoring...", highlight=False)
            view = await service.execute(view.request_id, progress=None if as_json else _progress)
        return view

    _finish(_served(settings, decide), as_json)


@restore_app.command()
def reject(
    request_id: RequestId,
    person: AsOption = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, for the requester and the audit.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a request: one rejection ends it."""
    settings = load_settings()
    who = person_of(person)
    _finish(_served(settings, lambda service: service.reject(request_id, person=who, reason=reason)), as_json)


@restore_app.command()
def cancel(request_id: RequestId, person: AsOption = None, as_json: JsonOption = False) -> None:
    """Withdraw a pending or approved request (the requester or an approver)."""
    settings = load_settings()
    who = person_of(person)
    _finish(_served(settings, lambda service: service.cancel(request_id, person=who)), as_json)


@restore_app.command()
def run(
    request_id: RequestId,
    force: Annotated[
        bool, typer.Option("--force", help="Resume an executing request even if its runner looks alive.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run an approved request, or resume one whose run was interrupted."""
    settings = load_settings()
    progress = None if as_json else _progress

    async def go(service: RestoreService) -> RequestView:
        view = service.get(request_id)
        if view.state is RequestState.EXECUTING:
            return await service.resume(view.request_id, progress=progress, force=force)
        return await service.execute(view.request_id, progress=progress)

    _finish(_served(settings, go), as_json)


# --- reading --------------------------------------------------------------------------------------------


@restore_app.command()
def status(
    request_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="Request id or prefix.")] = None,
    as_json: JsonOption = False,
) -> None:
    """One request in detail, or the open ones (pending, approved, executing)."""
    settings = load_settings()
    with _service(settings) as service:
        service.expire_due()
        if request_id is None:
            views = service.requests(
                states=(RequestState.PENDING, RequestState.APPROVED, RequestState.EXECUTING), limit=200
            )
            if as_json:
                print_json([v.to_json() for v in views])
            else:
                render_list(views, "No open restore requests.")
            return
        view = service.get(request_id)
    if as_json:
        print_json(view.to_json(with_plan=True))
        return
    render_request(view)


@restore_app.command(name="list")
def list_requests(
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 50,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recent restore requests, newest first."""
    settings = load_settings()
    with _service(settings) as service:
        service.expire_due()
        views = service.requests(tenant, limit=limit)
    if as_json:
        print_json([v.to_json() for v in views])
        return
    render_list(views, "No restore requests yet.")


@app.command()
def audit(
    since: Annotated[
        str | None, typer.Option("--since", help="Only events from then on: '24h', '2d ago', an ISO time.")
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Check the hash chain and the write-once copies in the store.")
    ] = False,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """The restore audit trail: every request, decision, refusal and result, oldest first."""
    settings = load_settings()
    start = _since(since) if since else None
    with _service(settings) as service:
        events = service.audit.events(tenant, since=start)  # every tenant's when none is named, by seq
        problems: list[str] = []
        if verify:
            for tenant_id in [tenant] if tenant else service.audit.tenants():
                problems += service.audit.verify_chain(tenant_id)
                problems += _store_problems(service, tenant_id)
    if as_json:
        payload: dict[str, Any] = {"events": [e.to_json() for e in events]}
        if verify:
            payload["verified"] = not problems
            payload["problems"] = problems
        print_json(payload)
    else:
        table = Table("seq", "at", "event", "request", "actor", "detail")
        for e in events:
            detail = {k: v for k, v in e.detail.items() if k not in ("by", "requester", "person")}
            table.add_row(
                str(e.seq),
                _when(e.at),
                e.event,
                (e.request_id or "")[:8],
                e.actor,
                escape(_short(json.dumps(detail, sort_keys=True, default=str))),
            )
        out.print(table)
        if verify:
            for problem in problems:
                out.print(f"[red]tampered[/] {escape(problem)}", highlight=False)
            if not problems:
                out.print(f"[green]verified[/] {len(events)} events: the chain and the store copies agree")
    if verify and problems:
        raise typer.Exit(1)


def _store_problems(service: RestoreService, tenant_id: str) -> list[str]:
    try:
        return service.audit.verify_store(tenant_id)
    except RewindError as exc:
        return [f"tenant {tenant_id}: the store cannot be opened to check the audit copies: {exc}"]


# --- rendering ------------------------------------------------------------------------------------------


def render_plan(made: Plan) -> None:
    out.print(f"[bold]Plan[/] {escape(made.summary_line())}", highlight=False)
    out.print(
        f"[dim]snapshot {made.snapshot_id[:8]} ({made.snapshot_created_at}), tenant {made.tenant_id}[/]",
        highlight=False,
    )
    counts = made.counts()
    if counts:
        table = Table("action", "count")
        for op, n in counts.items():
            table.add_row(op.replace("_", " "), f"{n:,}")
        out.print(table)
    riskiest = made.riskiest()
    if riskiest:
        out.print("[bold]Riskiest[/]")
        for action in riskiest:
            note = f" ({escape(action.reason)})" if action.reason else ""
            target = f" {action.relationship} -> {action.target_id}" if action.relationship else ""
            out.print(
                f"  {action.risk.value.upper():<8} {_action_words(action)}{escape(target)}{note}",
                highlight=False,
            )
    if made.warnings:
        out.print("[bold]Warnings[/]")
        for warning in made.warnings:
            out.print(f"  [yellow]![/] {escape(warning.message)}", highlight=False)


def render_request(view: RequestView) -> None:
    style = _STATE_STYLE.get(view.state, "white")
    out.print(
        f"[bold]Request {view.short_id}[/] [{style}]{view.state.value.replace('_', ' ')}[/]  "
        f"[dim]{view.request_id}[/]",
        highlight=False,
    )
    out.print(f"  {escape(view.summary)}", highlight=False)
    out.print(f"  requested by {escape(str(view.requester))} at {_when(view.created_at)}", highlight=False)
    approvers = ", ".join(str(p) for p in view.approvals) or "nobody yet"
    out.print(
        f"  approvals {len(view.approvals)} of {view.required_approvals}: {escape(approvers)}",
        highlight=False,
    )
    if view.rejected_by is not None:
        out.print(f"  rejected by {escape(str(view.rejected_by))}", highlight=False)
    if view.state in (RequestState.PENDING, RequestState.APPROVED):
        out.print(f"  expires at {_when(view.expires_at)}", highlight=False)
    if view.error:
        out.print(f"  [red]error[/] {escape(view.error)}", highlight=False)
    if view.result is not None:
        render_result(view)


def render_result(view: RequestView) -> None:
    result = view.result
    if result is None:
        return
    table = Table("result", "type", "object", "new id", "detail")
    for o in result.outcomes:
        style = "red" if o.status in ("failed", "mismatch") else "green"
        table.add_row(
            f"[{style}]{o.status}[/]",
            o.object_type,
            escape(o.display_name or o.object_id),
            o.new_id or "",
            escape(_short(o.detail or "")),
        )
    out.print(table)
    out.print(f"[bold]{escape(result.summary_line())}[/]", highlight=False)


def render_list(views: list[RequestView], empty: str) -> None:
    if not views:
        out.print(empty)
        return
    table = Table("id", "state", "requested", "by", "approvals", "summary")
    for v in views:
        style = _STATE_STYLE.get(v.state, "white")
        table.add_row(
            v.short_id,
            f"[{style}]{v.state.value.replace('_', ' ')}[/]",
            _when(v.created_at),
            escape(str(v.requester)),
            f"{len(v.approvals)}/{v.required_approvals}",
            escape(_short(v.summary)),
        )
    out.print(table)


async def _progress(event: StepEvent) -> None:
    if event.state == "started":
        return
    action = event.action
    mark = {"done": "[green]done[/]", "failed": "[red]failed[/]", "skipped": "[dim]skipped[/]"}[event.state]
    extra = f" -> {event.new_id}" if event.new_id else ""
    error = f": {escape(event.error)}" if event.error else ""
    out.print(f"  {mark} {_action_words(action)}{extra}{error}", highlight=False)


def _action_words(action: Action) -> str:
    """An action as a line says it: "recreate group Sales"."""
    return f"{action.operation.value.replace('_', ' ')} {action.object_type} {escape(action.display_name)}"


def _finish(view: RequestView, as_json: bool) -> None:
    if as_json:
        print_json(view.to_json())
    else:
        render_request(view)
    if view.state not in _OK_STATES and view.state not in (RequestState.REJECTED, RequestState.CANCELLED):
        raise typer.Exit(1)


def _save_plan(settings: RewindSettings, made: Plan, csv_file: Path | None) -> tuple[Path, Path]:
    folder = settings.data_dir / "plans"
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"plan-{made.plan_hash[:12]}.json"
    json_path.write_text(
        json.dumps({**made.to_json(), "plan_hash": made.plan_hash}, indent=1, sort_keys=True)
    )
    csv_path = csv_file or folder / f"plan-{made.plan_hash[:12]}.csv"
    csv_path.write_text(made.to_csv())
    return json_path, csv_path


def _since(text: str) -> datetime:
    now = datetime.now(UTC)
    when = parse_time(text, now)
    if when is not None:
        return when
    try:
        return now - parse_duration(text)
    except RewindError:
        raise RewindError(
            f"--since {text!r} is not a time: try '24h', '2d ago' or 2026-01-31T12:00"
        ) from None


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _short(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
