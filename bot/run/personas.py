"""Personas converge: each lane's account wears, on its network, the persona the
schedule says, whatever the network does meanwhile.

The persona due is desired state. A storm (or a correction at start) makes it
the lane's goal; the switch is claimed in the ledger once and tried until it
succeeds, with backoff and no limit while the service runs, because profile
writes are idempotent. A refusal (RejectedError: 401, 403, X's 453) is final:
recorded failed and permanent, logged loudly once, and posting goes on. Until
then the lane publishes nothing (no post ever goes out under the old name
while the new one is merely delayed).

At start, where the network can show the profile (`Publisher.profile`), it is
compared with the persona worn: name, bio, and the avatar, by the SHA-256 of
the file the last switch uploaded and the network's reference to it (kept in
the ledger), so an avatar is not uploaded again at every start. Drift is
repaired with a switch.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from pathlib import Path

from bot.errors import Deposed, PublishError, RejectedError
from bot.run.logs import LOGGER, event

log = logging.getLogger(LOGGER)


def file_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def drift(persona, profile, last_good) -> str | None:
    """Why the network's `profile` does not show `persona` (None: it does).
    `last_good`: the last successful switch of this slot, from the ledger."""
    if profile.name != persona.name:
        return f"the name is {profile.name!r}, not {persona.name!r}"
    if " ".join((profile.bio or "").split()) != " ".join((persona.bio or "").split()):
        return "the bio differs"
    if persona.avatar is None:
        return None
    if last_good is None or last_good.persona != persona.key:
        return "the avatar is not known to be the persona's"
    if last_good.avatar_digest != file_digest(persona.avatar):
        return "the avatar file changed since it was uploaded"
    if not profile.avatar:
        return "the network shows no avatar"
    if last_good.avatar_ref and profile.avatar != last_good.avatar_ref:
        return "the avatar was changed on the network"
    return None


class Personas:
    """One lane's persona goal and the switch that reaches it."""

    def __init__(self, lane) -> None:
        self.lane = lane
        self.goal: str | None = None  # the persona to switch to
        self.entry: str | None = None  # the storm it comes from (None: a correction or repair)
        self.check: str | None = None  # the persona to compare the network's profile with
        self.row: int | None = None  # the open switch row while it is retried
        self.attempt = 0
        self.next_at: datetime | None = None
        self.last_error: str | None = None
        self.refusals: dict[str, str] = {}  # persona -> why the network refused it for good

    def busy(self) -> bool:
        return self.goal is not None or self.check is not None

    def refused(self, persona: str | None) -> str | None:
        return self.refusals.get(persona) if persona else None

    # -- goals ------------------------------------------------------------------

    def start(self, desired: str | None, initial: str | None, coming: set[str] = frozenset()) -> None:
        """At start: make the account wear `desired` (the persona due now); `coming`: the
        personas of this slot's storms still to handle in this run."""
        if desired is None:
            return
        ledger, lane = self.lane.ctx.ledger, self.lane
        last = ledger.last_switch(lane.account, lane.network)
        good = ledger.last_good_switch(lane.account, lane.network)
        if last is not None and last.state != "posted" and last.persona != desired and last.persona in coming:
            pass  # a storm's switch cut short: the storm switches it again when its turn comes, not back and forth
        elif last is not None and last.persona == desired and last.state == "failed" and last.permanent:
            self.refusals[desired] = last.reason or "refused"  # reported once, when it happened
        elif good is not None and good.persona == desired and last.switch_id == good.switch_id:
            self.check = desired  # worn, as far as the ledger knows: compare with the network
        elif last is None and desired == initial:
            self.check = desired  # never switched: it may wear it already (switched once when that cannot be seen)
        else:
            self.want(desired, None)

    def want(self, persona: str, entry_id: str | None, *, repair: bool = False) -> None:
        """Make `persona` the goal (a storm reached the head of the lane, or was missed)."""
        lane = self.lane
        if not repair and self.goal is None and self.row is None:
            good = lane.ctx.ledger.last_good_switch(lane.account, lane.network)
            last = lane.ctx.ledger.last_switch(lane.account, lane.network)
            if good is not None and good.persona == persona and last.switch_id == good.switch_id:
                self.check = None
                return  # worn already (a restart between the switch and its post)
        if self.row is not None and self.goal != persona:  # a newer goal replaces one still retried
            lane.ctx.ledger.settle_switch(self.row, "failed", now=lane.ctx.clock(),
                                          reason=f"superseded by a switch to {persona}: {self.last_error}")
            self.row = None
        self.goal, self.entry, self.attempt, self.next_at = persona, entry_id, 0, None
        self.check = None  # a start-up comparison is moot once a newer persona is due

    # -- one step -------------------------------------------------------------

    def step(self, now: datetime) -> datetime | None:
        if self.check is not None and self.goal is None:
            if self.next_at is not None and now < self.next_at:
                return self.next_at
            return self._check(now)
        if self.next_at is not None and now < self.next_at:
            return self.next_at
        return self._switch(now)

    def _check(self, now: datetime) -> datetime:
        lane = self.lane
        key = self.check
        try:
            profile = lane.publisher.profile()
        except PublishError as exc:
            return self._unreadable(key, exc)
        self.check, self.attempt, self.next_at = None, 0, None
        good = lane.ctx.ledger.last_good_switch(lane.account, lane.network)
        if profile is None:  # the network cannot show it: switch once, so the ledger knows it is worn
            if good is None:
                self.want(key, None, repair=True)
            return now
        reason = drift(lane.ctx.persona(key), profile, good)
        if reason:
            event(logging.WARNING, "persona-drift", account=lane.account, platform=lane.network, persona=key, reason=reason)
            self.want(key, None, repair=True)
        return now

    def _unreadable(self, key: str, exc: PublishError) -> datetime:
        """The profile could not be read: asked again on the retry policy's backoff while the
        failure may pass (the lane holds its posts meanwhile, as for a switch). Then, or at
        once for a refusal (this access level cannot read it): an account the ledger knows
        to wear the persona is left until the next start; one never switched is switched,
        and that switch is retried until it goes through (nothing is posted under a persona
        not known to be worn)."""
        lane, policy = self.lane, self.lane.ctx.policy
        where = {"account": lane.account, "platform": lane.network, "persona": key, "reason": str(exc)}
        if not isinstance(exc, RejectedError) and self.attempt < policy.retries:
            wait = policy.wait(self.attempt, exc)
            self.attempt += 1
            self.next_at = lane.ctx.clock() + timedelta(seconds=wait)
            event(logging.WARNING, "profile-unreadable", **where, attempt=self.attempt, wait_s=f"{wait:.1f}")
            return self.next_at
        self.check, self.attempt, self.next_at = None, 0, None
        if lane.ctx.ledger.last_good_switch(lane.account, lane.network) is None:
            event(logging.WARNING, "profile-unreadable", **where, note="never switched: switching")
            self.want(key, None, repair=True)
        else:
            event(logging.WARNING, "profile-unreadable", **where, note="not compared until the next start")
        return lane.ctx.clock()

    def _switch(self, now: datetime) -> datetime | None:
        lane = self.lane
        ledger, policy = lane.ctx.ledger, lane.ctx.policy
        persona = lane.ctx.persona(self.goal)
        if self.row is None:
            self.row = ledger.claim_switch(lane.account, lane.network, self.goal, self.entry, now=now,
                                           avatar_digest=file_digest(persona.avatar))
        lane.ctx.guard()  # still the active process, right before the call (Deposed otherwise)
        lane.in_flight = ("switch", self.row)
        try:
            profile = lane.publisher.switch_persona(persona)
        except RejectedError as exc:  # ProfileRefused included: final, loud, once
            lane.in_flight = None
            self.refusals[self.goal] = str(exc)
            ledger.settle_switch(self.row, "failed", now=lane.ctx.clock(), reason=str(exc), permanent=True)
            event(logging.ERROR, "switch-failed", account=lane.account, platform=lane.network, persona=self.goal,
                                                 entry=self.entry, **lane.ctx.source_of(self.entry), reason=str(exc))
            self._reached()
            return lane.ctx.clock()
        except Deposed:  # the lease lapsed in the middle of the switch: the row stays claimed
            raise  # (the next active process recovers it and checks the profile)
        except Exception as exc:  # transient (or a publisher bug): a profile write may be repeated
            lane.in_flight = None
            reason = str(exc) if isinstance(exc, PublishError) else f"{type(exc).__name__}: {exc}"
            wait = policy.wait(self.attempt, exc if isinstance(exc, PublishError) else None)
            self.attempt += 1
            self.last_error = reason
            self.next_at = lane.ctx.clock() + timedelta(seconds=wait)
            event(logging.WARNING, "switch-retry", account=lane.account, platform=lane.network, persona=self.goal,
                                                  entry=self.entry, **lane.ctx.source_of(self.entry), attempt=self.attempt,
                                                  wait_s=f"{wait:.1f}", reason=reason)
            return self.next_at
        finally:
            lane.in_flight = None
        ledger.settle_switch(self.row, "posted", now=lane.ctx.clock(),
                             avatar_ref=getattr(profile, "avatar", None) if profile is not None else None)
        event(logging.INFO, "switched", account=lane.account, platform=lane.network, persona=self.goal,
                                       entry=self.entry, **lane.ctx.source_of(self.entry),
                                       attempts=self.attempt + 1 if self.attempt else None)
        self._reached()
        return lane.ctx.clock()

    def _reached(self) -> None:
        self.goal = self.entry = self.row = self.next_at = None
        self.attempt = 0

    def stop(self, now: datetime) -> None:
        """The service stops while a switch is being retried: the next start tries again."""
        if self.row is not None and self.lane.in_flight is None:
            self.lane.ctx.ledger.settle_switch(self.row, "failed", now=now,
                                               reason=f"stopped while retrying: {self.last_error}")
            self.row = None
