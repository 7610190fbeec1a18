"""The counseling desk: cases opening, routing, claims, the anonymous relay, closing and follow-up.

Theory of operation:
- Counselors are users of the same engine. A message from a counselor's conversation goes to
  ``counselor_step``; a message from a teen with an open case goes through ``teen_step`` first.
- Everything for someone other than the sender is a ``Deliver`` record (the outbox), sent by the
  worker after commit. Every case change is a ``CaseTransition``; every counselor action an
  ``Audit``. Anything later (service levels, check-ins) is a ``Schedule`` row.
- Exactly one claim wins: the storage adapter loads the named case with its row locked, so the
  state this module sees cannot change before commit; a second claim sees ``active``.
- Commands of counselors sent by anyone else get the same answer as an unknown command.
- Counselors see a case number, risk, categories, role, language, waiting time and the last
  messages with identifying details redacted; never a channel id or name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.cases.lifecycle import OPEN_STATES, WAITING_STATES, CaseStateError, fire
from bot.core.cases.model import (
    DEFAULT_SLA,
    OUTCOMES,
    ROLES,
    Audit,
    Case,
    Counselor,
    Deliver,
    DeskView,
    Note,
    Role,
    SaveCase,
    SaveCounselor,
    Schedule,
    UseInvite,
    position_of_new,
)
from bot.core.cases.redact import redact
from bot.core.events import Button, Outbound
from bot.core.flow_schema import Text
from bot.core.risk.lexicon import Level
from bot.core.text import Command

COUNSELOR_COMMANDS = frozenset({"duty", "cases", "claim", "close", "transfer", "note", "case"})
FOLLOW_UP_DELAYS: Mapping[str, timedelta] = {"24h": timedelta(hours=24),
                                             "72h": timedelta(hours=72),
                                             "7d": timedelta(days=7)}
CURRENT_CASE = "desk_current_case"


class Turn(Protocol):
    """What the desk needs from the engine's turn."""

    now: datetime
    key: str
    lang: str
    text: str  # the message being handled, cleaned
    slots: dict[str, str]
    records: list[object]

    def desk_text(self, name: str) -> Text: ...

    def reply(self, text: str, buttons: tuple[Button, ...] = ()) -> None: ...

    def unknown_command(self) -> None: ...


def _fill(text: Text, lang: str, values: Mapping[str, object]) -> str:
    body = text.get("en" if lang == "en" else "zh")
    for name, value in values.items():
        body = body.replace("{" + name + "}", str(value))
    return body


def claim_button(case: Case) -> Button:
    return Button(label=f"✋ #{case.id}", payload=f"case:claim:{case.id}")


def _minutes(delta: timedelta) -> str:
    return f"{max(0, int(delta.total_seconds() // 60))} min"


class Desk:
    def __init__(self, turn: Turn, view: DeskView, sla: Mapping[str, timedelta] = DEFAULT_SLA,
                 counselor_lang: str = "zh") -> None:
        self.turn = turn
        self.view = view
        self.sla = sla
        self.counselor_lang = counselor_lang

    # -- helpers -------------------------------------------------------------------------------

    def _say(self, name: str, buttons: tuple[Button, ...] = (), **values: object) -> None:
        self.turn.reply(_fill(self.turn.desk_text(name), self.turn.lang, values), buttons)

    def _send(self, key: str, lang: str, name: str, buttons: tuple[Button, ...] = (),
              **values: object) -> None:
        text = _fill(self.turn.desk_text(name), lang, values)
        self.turn.records.append(Deliver(message=Outbound(key=key, text=text, buttons=buttons),
                                         at=self.turn.now))

    def _audit(self, counselor: Counselor | None, action: str, case: Case | None,
               detail: str = "") -> None:
        self.turn.records.append(Audit(counselor_id=counselor.id if counselor else None,
                                       action=action, case_id=case.id if case else None,
                                       detail=detail[:200], at=self.turn.now))

    def _move(self, case: Case, trigger: str, actor: str, reason: str, **changes: object) -> Case:
        transition = fire(case.id, case.state, trigger, actor=actor, reason=reason,
                          at=self.turn.now)
        updated = replace(case, state=transition.dest, updated_at=self.turn.now, **changes)
        self.turn.records.extend([transition, SaveCase(case=updated, expected_state=case.state)])
        return updated

    # -- teens ---------------------------------------------------------------------------------

    def open_case(self, *, reason: str, skill: Role, risk: Level, categories: tuple[str, ...],
                  user_role: str) -> Case | None:
        """Open (or raise) the conversation's case and tell whoever must know."""
        self.view.require()
        existing = self.view.own_case
        if existing is not None and existing.state in OPEN_STATES:
            if risk > existing.level:
                raised = replace(existing, risk=risk.label, updated_at=self.turn.now,
                                 categories=tuple(dict.fromkeys(existing.categories
                                                                + categories)))
                self.turn.records.append(SaveCase(case=raised, expected_state=existing.state))
                self._alert_rise(raised)
                return raised
            return existing
        assert self.view.new_case_id is not None, "storage must hand in case ids"
        case = Case(id=self.view.new_case_id(), key=self.turn.key, state="queued", skill=skill,
                    risk=risk.label, categories=categories, reason=reason, user_role=user_role,
                    lang=self.turn.lang, opened_at=self.turn.now, updated_at=self.turn.now)
        self.turn.records.append(SaveCase(case=case, new=True))
        self.turn.records.append(Schedule(kind="sla", case_id=case.id,
                                          due=self.turn.now + self.sla[case.risk]))
        notified = self._announce(case, recent=(*self.view.recent, self.turn.text)
                                  if self.turn.text else self.view.recent)
        if notified:
            self._say("waiting", position=position_of_new(self.view, case.level))
        else:
            self._say("no_one_on_duty")
        return case

    def _alert_rise(self, case: Case) -> None:
        if case.state == "active" and case.counselor_id in self.view.counselors:
            counselor = self.view.counselors[case.counselor_id]
            self._send(counselor.key, self.counselor_lang, "risk_rose", case=case.id,
                       risk=case.risk, categories=", ".join(case.categories) or "-")
        elif case.state in WAITING_STATES:
            self._announce(case, recent=self.view.recent)

    def _announce(self, case: Case, recent: tuple[str, ...], reminder: bool = False) -> int:
        """Notify every on-duty counselor who can take the case; returns how many."""
        lines = "\n".join(f"· {redact(line)[:200]}" for line in recent[-5:]) or "-"
        count = 0
        for counselor in self.view.on_duty:
            if not counselor.can_take(case) and not (reminder and counselor.role == "supervisor"):
                continue
            count += 1
            self._send(counselor.key, self.counselor_lang,
                       "sla_reminder" if reminder else "notify", (claim_button(case),),
                       **self._case_values(case, lines))
        return count

    def _case_values(self, case: Case, recent: str) -> dict[str, object]:
        """What a case notification shows: never who the person is."""
        return {"case": case.id, "risk": case.risk,
                "categories": ", ".join(case.categories) or "-", "role": case.user_role,
                "language": case.lang, "waiting": _minutes(self.turn.now - case.opened_at),
                "recent": recent}

    def teen_step(self, text: str, is_command: bool) -> bool:
        """Relay a teen's message while a counselor holds the case; True when handled."""
        case = self.view.own_case
        if case is None:
            return False
        self.view.require()
        if case.state != "active":
            if case.state in WAITING_STATES and text and not is_command:
                self._say("still_waiting", position=self.view.own_position or 1)
                return True
            return False
        counselor = self.view.counselors.get(case.counselor_id or -1)
        if is_command and text.strip().lower() in ("/end", "/stop", "/结束"):
            self._move(case, "resolve", actor="user", reason="the user ended the chat")
            self._say("teen_ended_chat")
            if counselor:
                self._send(counselor.key, self.counselor_lang, "teen_ended", case=case.id)
            return True
        if is_command or counselor is None:
            return False
        self._send(counselor.key, self.counselor_lang, "relay_to_counselor", case=case.id,
                   text=text)
        return True

    def user_unreachable(self) -> None:
        """The user blocked the bot: a counselor talking with them must know."""
        case = self.view.own_case
        if case is None or case.state != "active":
            return
        self.view.require()
        counselor = self.view.counselors.get(case.counselor_id or -1)
        if counselor is not None:
            self._send(counselor.key, self.counselor_lang, "teen_unreachable", case=case.id)

    # -- counselors ----------------------------------------------------------------------------

    def sign_in(self) -> None:
        """``/counselor CODE``: a valid unused code makes this user a counselor (again, for a
        revoked one); anything else gets the unknown-command answer, revealing nothing."""
        self.view.require()
        invite, known = self.view.invite, self.view.counselor
        if (invite is None or invite.used_at is not None or invite.expires_at <= self.turn.now
                or (known is not None and known.active)):
            self.turn.unknown_command()
            return
        if known is None:
            counselor = Counselor(id=0, key=self.turn.key, role=invite.role, alias=invite.alias)
        else:
            counselor = replace(known, role=invite.role, alias=invite.alias, active=True)
        self.turn.records.extend([UseInvite(invite_id=invite.id, at=self.turn.now),
                                  SaveCounselor(counselor=counselor, new=known is None),
                                  Audit(counselor_id=None, action="sign_in", case_id=None,
                                        detail=f"invite {invite.id} as {invite.role}",
                                        at=self.turn.now)])
        self._say("counselor_welcome", alias=invite.alias, role=invite.role)

    def counselor_step(self, command: Command | None, payload: str | None, text: str) -> bool:
        """Handle a counselor's command, button or message; False to let the flows answer."""
        counselor = self.view.counselor
        if counselor is None or not counselor.active:
            return False
        self.view.require()
        if payload is not None and payload.startswith("case:"):
            self._case_button(counselor, payload)
            return True
        if command is not None:
            if command.name not in COUNSELOR_COMMANDS:
                return False
            getattr(self, f"_cmd_{command.name}")(counselor, command.args)
            return True
        if not text:
            return False
        case = self._current(counselor)
        if case is None:
            self._say("no_case")
            return True
        self._send(case.key, case.lang, "relay_to_teen", alias=counselor.alias, text=text)
        self._audit(counselor, "relay", case)
        return True

    def _current(self, counselor: Counselor) -> Case | None:
        held = {case.id: case for case in self.view.held if case.state == "active"}
        chosen = self.turn.slots.get(CURRENT_CASE, "")
        if chosen.isdigit() and int(chosen) in held:
            return held[int(chosen)]
        return max(held.values(), key=lambda c: c.updated_at, default=None)

    def _named_case(self, counselor: Counselor, args: str) -> Case | None:
        word = args.strip().lstrip("#")
        if word.isdigit():
            return self.view.referenced.get(int(word))
        return self._current(counselor)

    def _cmd_duty(self, counselor: Counselor, args: str) -> None:
        on = args.strip().lower() in ("on", "开", "开始", "1", "yes")
        if args.strip().lower() not in ("on", "off", "开", "关", "开始", "结束", "1", "0", "yes",
                                        "no"):
            self._say("duty_usage")
            return
        self.turn.records.append(SaveCounselor(counselor=replace(counselor, on_duty=on)))
        self._audit(counselor, "duty_on" if on else "duty_off", None)
        if on:
            waiting = [c for c in self.view.queue if counselor.can_take(c)]
            self._say("duty_on", count=len(waiting))
            for case in waiting[:10]:
                self._offer(counselor, case)
            return
        released = 0
        for case in self.view.held:
            if case.state == "active":
                released += 1
                back = self._move(case, "release", actor=f"counselor:{counselor.id}",
                                  reason="counselor went off duty", counselor_id=None)
                self._send(case.key, case.lang, "counselor_left", alias=counselor.alias)
                self._announce(back, recent=())
        self._say("duty_off", count=released)

    def _offer(self, counselor: Counselor, case: Case) -> None:
        self._say("notify", (claim_button(case),), **self._case_values(case, "-"))

    def _cmd_cases(self, counselor: Counselor, args: str) -> None:
        held = [c for c in self.view.held if c.state in OPEN_STATES]
        waiting = [c for c in self.view.queue if counselor.can_take(c)]
        lines = [f"#{c.id} {c.state} {c.risk} {', '.join(c.categories) or '-'}" for c in held]
        queue = [f"#{c.id} {c.risk} {c.skill} {_minutes(self.turn.now - c.opened_at)}"
                 for c in waiting]
        buttons = tuple(claim_button(c) for c in waiting[:8])
        self._say("cases_list", buttons, held="\n".join(lines) or "-",
                  queue="\n".join(queue) or "-")
        self._audit(counselor, "list_cases", None)

    def _cmd_claim(self, counselor: Counselor, args: str) -> None:
        case = self._named_case(counselor, args)
        self._claim(counselor, case)

    def _claim(self, counselor: Counselor, case: Case | None) -> None:
        if case is None or not counselor.can_take(case):
            self._say("no_such_case")
            return
        if case.state not in WAITING_STATES:
            self._say("claim_lost", case=case.id)
            self._audit(counselor, "claim_lost", case)
            return
        claimed = self._move(case, "claim", actor=f"counselor:{counselor.id}",
                             reason="claimed", counselor_id=counselor.id)
        self.turn.slots[CURRENT_CASE] = str(claimed.id)
        self._audit(counselor, "claim", claimed)
        recent = "\n".join(f"· {line[:300]}" for line in self.view.recent[-10:]) or "-"
        self._say("claim_won", case=claimed.id, alias=counselor.alias, recent=recent)
        self._send(claimed.key, claimed.lang, "counselor_joined", alias=counselor.alias)
        for other in self.view.on_duty:
            if other.id != counselor.id and other.can_take(case):
                self._send(other.key, self.counselor_lang, "case_taken", case=case.id)

    def _cmd_case(self, counselor: Counselor, args: str) -> None:
        case = self._named_case(counselor, args)
        if case is None or case.counselor_id != counselor.id or case.state != "active":
            self._say("no_such_case")
            return
        self.turn.slots[CURRENT_CASE] = str(case.id)
        self._say("case_selected", case=case.id)

    def _cmd_close(self, counselor: Counselor, args: str) -> None:
        case = self._named_case(counselor, args)
        if case is None or case.counselor_id != counselor.id or case.state not in (
                "active", "resolved"):
            self._say("no_such_case")
            return
        buttons = tuple(Button(label=_fill(self.turn.desk_text(f"outcome_{name}"),
                                           self.turn.lang, {}),
                               payload=f"case:outcome:{case.id}:{name}") for name in OUTCOMES)
        self._say("close_ask_outcome", buttons, case=case.id)

    def _cmd_transfer(self, counselor: Counselor, args: str) -> None:
        words = args.split()
        role = words[0].lower() if words else ""
        case = self._current(counselor)
        if role not in ROLES or case is None:
            self._say("transfer_usage")
            return
        moved = self._move(case, "release", actor=f"counselor:{counselor.id}",
                           reason=f"transferred to {role}", counselor_id=None, skill=role)
        self._audit(counselor, "transfer", case, role)
        self._send(case.key, case.lang, "transferred_teen", alias=counselor.alias)
        self._announce(moved, recent=())
        self._say("transferred", case=case.id, role=role)

    def _cmd_note(self, counselor: Counselor, args: str) -> None:
        case = self._current(counselor)
        if case is None or not args.strip():
            self._say("note_usage")
            return
        self.turn.records.append(Note(case_id=case.id, counselor_id=counselor.id,
                                      body=args.strip()[:4000], at=self.turn.now))
        self._audit(counselor, "note", case)
        self._say("noted", case=case.id)

    def _case_button(self, counselor: Counselor, payload: str) -> None:
        parts = payload.split(":")
        if len(parts) < 3 or not parts[2].isdigit():
            self._say("no_such_case")
            return
        action, case = parts[1], self.view.referenced.get(int(parts[2]))
        if action == "claim":
            self._claim(counselor, case)
            return
        if case is None or case.counselor_id != counselor.id:
            self._say("no_such_case")
            return
        choice = parts[3] if len(parts) > 3 else ""
        try:
            if action == "outcome" and choice in OUTCOMES:
                self._outcome(counselor, case, choice)
            elif action == "followup" and (choice in FOLLOW_UP_DELAYS or choice == "none"):
                self._follow_up(counselor, case, choice)
            else:
                self._say("no_such_case")
        except CaseStateError:
            self._say("no_such_case")

    def _outcome(self, counselor: Counselor, case: Case, outcome: str) -> None:
        if case.state == "active":
            case = self._move(case, "resolve", actor=f"counselor:{counselor.id}",
                              reason=f"outcome {outcome}", outcome=outcome)
            self._send(case.key, case.lang, "counselor_ended", alias=counselor.alias)
        else:
            case = replace(case, outcome=outcome, updated_at=self.turn.now)
            self.turn.records.append(SaveCase(case=case, expected_state=case.state))
        self._audit(counselor, "outcome", case, outcome)
        buttons = tuple(Button(label=label, payload=f"case:followup:{case.id}:{name}")
                        for name, label in (("24h", "24h"), ("72h", "72h"), ("7d", "7d"),
                                            ("none", "✗")))
        self._say("ask_follow_up", buttons, case=case.id)

    def _follow_up(self, counselor: Counselor, case: Case, choice: str) -> None:
        if choice == "none":
            self._move(case, "close", actor=f"counselor:{counselor.id}", reason="no follow-up")
            self._audit(counselor, "close", case)
            self._say("closed", case=case.id)
            return
        details = {**case.details, "follow_up_delay": choice, "follow_up_by": str(counselor.id)}
        case = self._move(case, "follow_up", actor=f"counselor:{counselor.id}",
                          reason=f"check-in in {choice} asked", details=details)
        self._audit(counselor, "follow_up", case, choice)
        self._send(case.key, case.lang, "consent_ask",
                   (Button(label=_fill(self.turn.desk_text("yes"), case.lang, {}),
                           payload=f"checkin:consent:{case.id}:yes"),
                    Button(label=_fill(self.turn.desk_text("no"), case.lang, {}),
                           payload=f"checkin:consent:{case.id}:no")),
                   alias=counselor.alias, delay=choice)
        self._say("follow_up_asked", case=case.id, delay=choice)

    # -- timers --------------------------------------------------------------------------------

    def fire_timer(self, kind: str, case: Case) -> None:
        """A service-level timer re-announces an unclaimed case, supervisors included, and arms
        itself again; a follow-up timer sends the agreed check-in."""
        self.view.require()
        if kind == "sla" and case.state in WAITING_STATES:
            self._announce(case, recent=self.view.recent, reminder=True)
            self.turn.records.append(Schedule(kind="sla", case_id=case.id,
                                              due=self.turn.now + self.sla[case.risk]))
            self.turn.records.append(Audit(counselor_id=None, action="sla_missed",
                                           case_id=case.id, detail=case.risk,
                                           at=self.turn.now))
        elif kind == "follow_up" and case.state == "follow_up":
            self._send(case.key, case.lang, "check_in", (
                Button(label=_fill(self.turn.desk_text("answer_ok"), case.lang, {}),
                       payload=f"checkin:answer:{case.id}:ok"),
                Button(label=_fill(self.turn.desk_text("answer_again"), case.lang, {}),
                       payload=f"checkin:answer:{case.id}:again")))

    # -- teens answering check-ins -------------------------------------------------------------

    def check_in_button(self, payload: str) -> bool:
        """``checkin:consent|answer:<case>:<choice>`` pressed by the teen."""
        self.view.require()
        parts = payload.split(":")
        case = self.view.own_case
        if (len(parts) != 4 or case is None or str(case.id) != parts[2]
                or case.state != "follow_up"):
            return False
        action, choice = parts[1], parts[3]
        if action == "consent" and choice == "yes" and "follow_up_consent" not in case.details:
            delay = FOLLOW_UP_DELAYS.get(case.details.get("follow_up_delay", ""),
                                         FOLLOW_UP_DELAYS["72h"])
            updated = replace(case, details={**case.details, "follow_up_consent": "yes"},
                              updated_at=self.turn.now)
            self.turn.records.extend([SaveCase(case=updated, expected_state=case.state),
                                      Schedule(kind="follow_up", case_id=case.id,
                                               due=self.turn.now + delay)])
            self._say("consent_thanks")
        elif action == "consent" and choice == "no":
            self._move(case, "close", actor="user", reason="declined a check-in")
            self._say("consent_declined")
        elif action == "answer" and choice == "ok":
            self._move(case, "close", actor="user", reason="check-in: doing OK")
            self._say("check_in_ok")
        elif action == "answer" and choice == "again":
            reopened = self._move(case, "reopen", actor="user", reason="check-in: wants to talk",
                                  counselor_id=None)
            self.turn.records.append(Schedule(kind="sla", case_id=case.id,
                                              due=self.turn.now + self.sla[case.risk]))
            self._announce(reopened, recent=self.view.recent)
            self._say("check_in_again")
        else:
            return False
        return True
