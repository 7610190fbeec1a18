"""The conversation engine: ``Engine.step(conversation, inbound, desk) -> StepResult``.

Theory of operation (sans-I/O, like h11):
- The caller loads the conversation (or None for a new one) and what it knows of cases and
  counselors for it (``desk``), hands them over with one inbound event whose ``at`` is the time,
  stores the returned records in one transaction and only then sends the returned messages. The
  engine reads no clock, no database and no channel.
- Safety first: every typed message from someone who is not a counselor is screened before
  anything else; ``high`` or ``imminent`` interrupts any state with the crisis flow and opens a
  case; ``medium`` gets a supportive reply first. A flow cannot opt out.
- Then, in order: counselors' commands and relay (``cases.desk``); a teen's message relayed while
  a counselor holds their case; global ``/commands``; a button payload, which must belong to the
  current state (an old or forged one re-shows the state); a button's label typed as text; the
  state's ``text`` options; small talk (a bare greeting, 在吗, thanks, goodbye) gets a kind word;
  and free text that is none of these goes to the knowledge base (without one, a kind reply
  with the ways to get help): never a dead end.
- Global commands that leave the current flow (help, human, language, forget) remember where the
  user was in the ``_return`` slot, so ``@back`` brings them back.
- Raises only on a bug; the runtime answers a failed step with ``apology()``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.cases.desk import COUNSELOR_COMMANDS, Desk
from bot.core.cases.model import DEFAULT_SLA, EMPTY_DESK, Case, DeskView
from bot.core.events import (
    Button,
    Conversation,
    Direction,
    EraseConversation,
    Inbound,
    Lang,
    LogMessage,
    Outbound,
    Record,
    SaveConversation,
    SetActive,
    StepResult,
)
from bot.core.flow_loader import Requirements
from bot.core.flow_machine import TEXT_TRIGGER, FlowSet, Move, press_trigger
from bot.core.flow_schema import ButtonSpec, StateSpec, Text, TextOption
from bot.core.kb.answer import KbQuery, KbVote, KnowledgeBase
from bot.core.registry import RETURN_TO, Scratch
from bot.core.risk.lexicon import Level
from bot.core.risk.screener import NO_RISK, Assessment, Screener
from bot.core.risk.tracking import stored_level, track
from bot.core.smalltalk import INTENTS, SmallTalk
from bot.core.text import Command, clean, detect_lang, fold, lang_from_hint, parse_command

WELCOME = "main.welcome"
ROLE_MENUS: Mapping[str, str] = {"teen": "teen.menu", "parent": "parent.menu"}
COMMAND_STATES: Mapping[str, str] = {
    "start": WELCOME,
    "help": "system.help",
    "human": "system.human",
    "lang": "system.lang",
    "forget": "system.forget_confirm",
}
LANG_STATES: Mapping[Lang, str] = {"zh": "system.lang_zh", "en": "system.lang_en"}
LANG_ARGS: Mapping[str, Lang] = {
    "zh": "zh", "cn": "zh", "中文": "zh", "中": "zh", "chinese": "zh",
    "en": "en", "english": "en", "英文": "en", "英语": "en",
}
CRISIS = "crisis.alert"
TEXTS = ("free_text", "unknown_command", "stale_button", "error", "medium_support", "non_text",
         *(f"smalltalk_{intent}" for intent in INTENTS))
KB_TEXTS = ("based_on", "unsure", "nothing", "helpful", "not_helpful", "counselor",
            "legal_counselor", "thanks", "sorry", "menu")
REQUIREMENTS = Requirements(
    states=(WELCOME, CRISIS, *ROLE_MENUS.values(), *COMMAND_STATES.values(),
            *LANG_STATES.values()),
    texts=(*(f"system.{name}" for name in TEXTS), *(f"kb.{name}" for name in KB_TEXTS)),
)
LEGAL_TOPICS = frozenset({"rights", "duties", "legal", "law"})
CAPTURE_LIMIT = 200
PAYLOAD_LIMIT = 200
_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Engine:
    """Decides what to say; built once from loaded flows and shared by every conversation."""

    def __init__(self, flows: FlowSet, screener: Screener | None = None,
                 sla: Mapping[str, timedelta] = DEFAULT_SLA,
                 kb: KnowledgeBase | None = None, smalltalk: SmallTalk | None = None) -> None:
        self.flows = flows
        self.screener = screener
        self.sla = sla
        self.kb = kb
        self.smalltalk = smalltalk

    def step(self, conversation: Conversation | None, inbound: Inbound,
             desk: DeskView = EMPTY_DESK) -> StepResult:
        """Handle one event; ``desk`` is what storage knows of cases and counselors for it."""
        return _Turn(self, conversation, inbound, desk).run()

    def fire_timer(self, kind: str, case: Case, desk: DeskView, now: datetime) -> list[object]:
        """The records a due timer produces (re-announcements, check-ins, next timers)."""
        turn = _TimerTurn(flows=self.flows, now=now, key=case.key, lang=case.lang)
        Desk(turn, desk, self.sla).fire_timer(kind, case)
        return turn.records

    def apology(self, key: str, lang: Lang = "zh") -> Outbound:
        """What a user gets when their message could not be handled."""
        return Outbound(key=key, text=self.flows.text("system.error").get(lang))


@dataclass(slots=True, kw_only=True)
class _TimerTurn:
    """A timer firing: no one wrote, so there is nobody to reply to; only records."""

    flows: FlowSet
    now: datetime
    key: str
    lang: str
    text: str = ""
    slots: dict[str, str] = field(default_factory=dict)
    records: list[object] = field(default_factory=list)

    def desk_text(self, name: str) -> Text:
        return self.flows.text(f"desk.{name}")

    def reply(self, text: str, buttons: tuple[Button, ...] = ()) -> None:
        raise AssertionError("a timer has nobody to reply to")

    def unknown_command(self) -> None:
        raise AssertionError("a timer has no command")


@dataclass(slots=True)
class _Turn:
    """One inbound event being handled; collects replies and records."""

    engine: Engine
    stored: Conversation | None
    inbound: Inbound
    view: DeskView
    flow: str = ""
    state: str = ""
    scratch: Scratch = field(init=False)
    assessment: Assessment = NO_RISK
    risk: Level = Level.NONE
    supported: bool = False  # a supportive reply for a medium-risk message was already given
    records: list[object] = field(default_factory=list)  # the desk's records (cases, outbox)
    replies: list[tuple[str, tuple[Button, ...]]] = field(default_factory=list)
    text: str = ""  # the message, cleaned (also what the desk quotes)
    command: Command | None = None  # the message read as a /command, parsed once

    @property
    def flows(self) -> FlowSet:
        return self.engine.flows

    # -- what the desk needs (bot.core.cases.desk.Turn) -----------------------------------------

    @property
    def now(self) -> datetime:
        return self.inbound.at

    @property
    def key(self) -> str:
        return self.inbound.key

    @property
    def lang(self) -> str:
        return self.scratch.lang


    @property
    def slots(self) -> dict[str, str]:
        return self.scratch.slots

    def desk_text(self, name: str) -> Text:
        return self.flows.text(f"desk.{name}")

    def reply(self, text: str, buttons: tuple[Button, ...] = ()) -> None:
        self.replies.append((text, buttons))

    def unknown_command(self) -> None:
        self._say(self.flows.text("system.unknown_command"))
        self._show()

    def run(self) -> StepResult:
        inbound, text = self.inbound, clean(self.inbound.text or "")
        self.text = text
        self.command = command = parse_command(text) if inbound.button is None else None
        words = "" if command else text  # "/start" says nothing about language
        conversation = self.stored or self._new_conversation(words)
        self.flow, self.state = conversation.flow, conversation.state
        self.scratch = Scratch(slots=dict(conversation.slots), lang=conversation.lang,
                               lang_locked=conversation.lang_locked, now=inbound.at)
        if words and not self.scratch.lang_locked:
            self.scratch.lang = detect_lang(words) or self.scratch.lang
        if self.flows.state(self.flow, self.state) is None:  # stored state no longer in the flows
            self.flow, self.state = WELCOME.split(".")
        desk = Desk(self, self.view, self.engine.sla, counselor_lang=self.scratch.lang)
        counselor = self.view.counselor if self.view.counselor and self.view.counselor.active \
            else None
        screener = self.engine.screener
        if counselor is None and screener is not None and text and inbound.button is None:
            self.assessment = screener.assess(text)
            self.risk = track(self.scratch.slots, self.assessment.level, inbound.at)
        if inbound.signal == "blocked":
            self.records.append(SetActive(key=inbound.key, active=False))
            desk.user_unreachable()
        elif inbound.edited:
            if counselor is None and self.risk >= Level.MEDIUM:
                self._teen_turn(desk, None, text)  # an edit that reveals risk is answered
        elif inbound.media is not None and not text:
            self._say(self.flows.text("system.non_text"))
            self._show()
        elif command is not None and command.name == "counselor":
            desk.sign_in()
        elif counselor is not None:
            if not desk.counselor_step(command, inbound.button, text):
                self._dispatch(text)
        else:
            self._teen_turn(desk, command, text)
        return self._result(conversation, text)

    def _teen_turn(self, desk: Desk, command: Command | None, text: str) -> None:
        """Someone seeking help: relay, crisis gate, or the flows; then open a case if needed."""
        own_case = self.view.own_case
        button = self.inbound.button
        if command is not None and command.name in COUNSELOR_COMMANDS:
            self.unknown_command()  # the same answer as any unknown command: reveals nothing
        elif button is not None and button.startswith("checkin:"):
            if not desk.check_in_button(button):
                self._press_payload(button)
        elif button is not None and button.startswith("kb:") and self.engine.kb is not None:
            self._kb_button(button)
        elif own_case is not None and own_case.state == "active" and desk.teen_step(
                text, command is not None):
            pass  # relayed to the counselor, who is alerted below if the risk rose
        elif self.risk >= Level.HIGH and f"{self.flow}.{self.state}" != CRISIS:
            self._leave_to(CRISIS)  # safety first: interrupts any flow, any state
        else:
            if self.risk == Level.MEDIUM:
                self._say(self.flows.text("system.medium_support"))
                self.supported = True
            if not (own_case is not None and button is None and command is None and text
                    and desk.teen_step(text, False)):
                self._dispatch(text)
        if self.scratch.wants_human or self.risk >= Level.HIGH:
            self._open_case(desk)

    def _open_case(self, desk: Desk) -> None:
        risk = max(self.risk, stored_level(self.scratch.slots, self.inbound.at))
        topic = self.scratch.slots.get("topic", "")
        if risk >= Level.HIGH:
            reason, skill = "risk", "psych"
        elif topic in LEGAL_TOPICS:
            reason, skill = "legal", "legal"
        else:
            reason, skill = "request", "psych"
        desk.open_case(reason=reason, skill=skill, risk=max(risk, Level.LOW),
                       categories=self.assessment.categories,
                       user_role=self.scratch.slots.get("role", "unknown"))

    def _new_conversation(self, text: str) -> Conversation:
        flow, state = WELCOME.split(".")
        lang = lang_from_hint(self.inbound.language_hint) or detect_lang(text) or "zh"
        return Conversation(key=self.inbound.key, channel=self.inbound.channel, flow=flow,
                            state=state, lang=lang, created_at=self.inbound.at,
                            updated_at=self.inbound.at)

    # -- dispatch ------------------------------------------------------------------------------

    def _dispatch(self, text: str) -> None:
        command = self.command
        if command is not None:
            self._command(command)
        elif self.stored is None:
            self._show()
        elif self.inbound.button is not None:
            self._press_payload(self.inbound.button)
        elif not text:
            self._show()
        elif (button := self._button_by_label(text)) is not None:
            self._press(button)
        else:
            self._free_text(text)

    def _command(self, command: Command) -> None:
        if command.name == "menu":
            self._goto("@menu")
        elif command.name == "lang" and command.args.casefold() in LANG_ARGS:
            self._leave_to(LANG_STATES[LANG_ARGS[command.args.casefold()]])
        elif command.name in COMMAND_STATES:
            target = COMMAND_STATES[command.name]
            if target == WELCOME:
                self._goto(target)
            else:
                self._leave_to(target)
        else:
            self._say(self.flows.text("system.unknown_command"))
            self._show()

    def _press_payload(self, payload: str) -> None:
        where, _, button_id = payload.partition(":")
        button = next((b for b in self._visible_buttons() if b.id == button_id), None)
        if where != f"{self.flow}.{self.state}" or button is None:
            self._say(self.flows.text("system.stale_button"))
            self._show()
            return
        self._press(button)

    def _press(self, button: ButtonSpec) -> None:
        move = self.flows.machine(self.flow).fire(self.state, press_trigger(button.id),
                                                  self.scratch)
        if move is None:  # a guard said no since the buttons were drawn
            self._say(self.flows.text("system.stale_button"))
            self._show()
            return
        self._follow(move)

    def _free_text(self, text: str) -> None:
        state = self._state()
        move = None
        if state.text:
            move = self.flows.machine(self.flow).fire(self.state, TEXT_TRIGGER, self.scratch)
        if move is None:
            intent = self.engine.smalltalk.intent(text) if self.engine.smalltalk else None
            if intent is not None and not self.supported:
                self._say(self.flows.text(f"system.smalltalk_{intent}"))
                if intent in ("greeting", "presence"):
                    self._show()
                return
            if self.engine.kb is not None and not self.supported:
                self._kb_answer(text)
                return
            if not self.supported:
                self._say(self.flows.text("system.free_text"))
            self._show()
            return
        option = move.spec
        assert isinstance(option, TextOption)
        if option.capture:
            self.scratch.slots[option.capture] = text[:CAPTURE_LIMIT]
        self._follow(move)

    def _kb_text(self, name: str) -> Text:
        return self.flows.text(f"kb.{name}")

    def _kb_answer(self, question: str) -> None:
        """Free text that is not a menu choice is a question for the knowledge base."""
        kb = self.engine.kb
        assert kb is not None
        reply = kb.answer(question, self.scratch.lang, self._kb_text)
        menu = Button(label=self._kb_text("menu").get(self.scratch.lang), payload="kb:menu")
        self.replies.append((reply.text, (*reply.buttons, menu)))
        self.records.append(KbQuery(question=question[:500], top_id=reply.top_id,
                                    confidence=round(reply.confidence, 4),
                                    answered=reply.answered, at=self.inbound.at))

    def _kb_button(self, payload: str) -> None:
        kb, lang = self.engine.kb, self.scratch.lang
        assert kb is not None
        parts = payload.split(":")
        entry = kb.knowledge.entry(parts[2]) if len(parts) > 2 else None
        if parts[1:2] == ["show"] and entry is not None:
            reply = kb.show(entry, lang, self._kb_text)
            menu = Button(label=self._kb_text("menu").get(lang), payload="kb:menu")
            self.replies.append((reply.text, (*reply.buttons, menu)))
        elif parts[1:2] == ["vote"] and entry is not None and len(parts) == 4:
            helpful = parts[3] == "up"
            self.records.append(KbVote(entry_id=entry.id, helpful=helpful, at=self.inbound.at))
            self._say(self._kb_text("thanks" if helpful else "sorry"))
            if not helpful:
                self.replies[-1] = (self.replies[-1][0], (Button(
                    label=self._kb_text("counselor").get(lang), payload="kb:human:psych"),))
        elif parts[1:2] == ["human"]:
            if len(parts) > 2 and parts[2] == "legal":
                self.scratch.slots["topic"] = "legal"
            self._leave_to("system.human")
        elif parts[1:2] == ["menu"]:
            self._goto("@menu")
        else:
            self._say(self.flows.text("system.stale_button"))
            self._show()

    def _follow(self, move: Move) -> None:
        spec = move.spec
        if isinstance(spec, ButtonSpec):
            self.scratch.slots.update(spec.set)
        elif spec.say is not None:
            self._say(spec.say)
        if move.target is None:
            self._show()
        else:
            self._goto(move.target)

    # -- moving --------------------------------------------------------------------------------

    def _leave_to(self, where: str) -> None:
        """Enter a global command's state, remembering where the user was to come back."""
        if self.flow != "system":
            self.scratch.slots[RETURN_TO] = f"{self.flow}.{self.state}"
        self._goto(where)

    def _goto(self, target: str) -> None:
        where = self._resolve(target)
        self.flow, self.state = where.split(".", 1)
        for action in self._state().enter:
            self.flows.registry.actions[action](self.scratch)
        self._show()

    def _resolve(self, target: str) -> str:
        if target == "@back":
            back = self.scratch.slots.get(RETURN_TO, "")
            flow, _, state = back.partition(".")
            return back if self.flows.state(flow, state) is not None else self._resolve("@menu")
        if target == "@menu":
            return ROLE_MENUS.get(self.scratch.slots.get("role", ""), WELCOME)
        return target if "." in target else f"{self.flow}.{target}"

    # -- what to say ---------------------------------------------------------------------------

    def _state(self) -> StateSpec:
        state = self.flows.state(self.flow, self.state)
        assert state is not None  # positions are checked on load and on entry
        return state

    def _visible_buttons(self) -> list[ButtonSpec]:
        conditions = self.flows.registry.conditions
        return [b for b in self._state().buttons
                if b.if_ is None or conditions[b.if_](self.scratch)]

    def _button_by_label(self, text: str) -> ButtonSpec | None:
        typed = fold(text)
        for button in self._visible_buttons():
            if typed in (fold(button.label.zh), fold(button.label.en)):
                return button
        return None

    def _render(self, text: Text) -> str:
        slots = self.scratch.slots
        return _SLOT.sub(lambda m: slots.get(m.group(1), m.group(0)), text.get(self.scratch.lang))

    def _say(self, text: Text) -> None:
        self.replies.append((self._render(text), ()))

    def _show(self) -> None:
        lang, where = self.scratch.lang, f"{self.flow}.{self.state}"
        buttons = tuple(Button(label=b.label.get(lang), payload=f"{where}:{b.id}")
                        for b in self._visible_buttons())
        self.replies.append((self._render(self._state().say), buttons))

    # -- result --------------------------------------------------------------------------------

    def _result(self, before: Conversation, text: str) -> StepResult:
        inbound, scratch = self.inbound, self.scratch
        where = f"{self.flow}.{self.state}"
        outbound = tuple(Outbound(key=inbound.key, text=body, buttons=buttons, state=where)
                         for body, buttons in self.replies)
        if scratch.erase:
            return StepResult(outbound=outbound,
                              records=(*self.records, EraseConversation(key=inbound.key)),
                              conversation=None, assessment=self.assessment, risk=self.risk.label)
        after = Conversation(key=before.key, channel=before.channel, flow=self.flow,
                             state=self.state, lang=scratch.lang, lang_locked=scratch.lang_locked,
                             slots=scratch.slots, created_at=before.created_at,
                             updated_at=inbound.at)
        if inbound.button is not None:
            kind, body = "button", clean(inbound.button)[:PAYLOAD_LIMIT]
        elif inbound.signal is not None:
            kind, body = "signal", inbound.signal
        elif inbound.media is not None:  # what it was, never its content (no places, no numbers)
            kind, body = "media", f"[{inbound.media}] {text}".strip()
        elif inbound.edited:
            kind, body = "edited", text
        else:
            kind, body = ("command" if self.command else "text"), text
        records: list[Record] = [
            SaveConversation(conversation=after),
            LogMessage(key=inbound.key, direction=Direction.IN, kind=kind, body=body,
                       state=before.where, at=inbound.at),
        ]
        records.extend(LogMessage(key=inbound.key, direction=Direction.OUT, kind="text",
                                  body=message.text, state=where, at=inbound.at)
                       for message in outbound)
        records.extend(self.records)  # type: ignore[arg-type]
        return StepResult(outbound=outbound, records=tuple(records), conversation=after,
                          assessment=self.assessment, risk=self.risk.label)
