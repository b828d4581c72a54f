"""Who clicked: a chat account as the platform vouches for it, and the person it resolves to.

The platform's signed payload names the workspace (team) and the user; the adapter looks up the rest
(email, bot/guest/deleted flags). Approvals bind to the resolved :class:`~core.restore.identity.Person`,
whose aliases always include the platform account (``slack:<team>:<user>``) and, where known, the email and
the Entra object id, never the display name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.errors import RewindError
from core.restore.identity import Person

# (tenant id, email) -> the Entra object id of that user, or None; configured where Graph can be asked.
EntraLookup = Callable[[str, str], Awaitable[str | None]]


class IdentityRefused(RewindError):
    """This account may not request or approve restores (a bot, a guest, a deactivated user)."""


@dataclass(frozen=True)
class ChatUser:
    platform: str
    team: str
    user: str
    display: str = ""
    email: str | None = None
    is_bot: bool = False
    deleted: bool = False
    guest: bool = False  # Slack's is_restricted / is_ultra_restricted

    @property
    def label(self) -> str:
        return self.display or self.email or self.user


async def resolve_person(
    account: ChatUser, *, tenant_id: str | None = None, entra: EntraLookup | None = None
) -> Person:
    """The person behind ``account``, refused for bots, guests and deactivated users (fail closed)."""
    if account.is_bot:
        raise IdentityRefused("bots cannot request or approve restores")
    if account.deleted:
        raise IdentityRefused("a deactivated account cannot request or approve restores")
    if account.guest:
        raise IdentityRefused("guest accounts cannot request or approve restores")
    entra_id = None
    if entra is not None and tenant_id and account.email:
        try:
            entra_id = await entra(tenant_id, account.email)
        except Exception:  # a Graph hiccup leaves the weaker aliases; the approval policy still applies
            entra_id = None
    return Person.of(
        account.label,
        entra_id=entra_id,
        email=account.email,
        platform=account.platform,
        team=account.team,
        user=account.user,
    )
