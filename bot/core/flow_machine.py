"""Compiled flows: one ``transitions`` machine per flow, shared by every conversation.

Theory of operation:
- A machine holds no conversation. Each step hands it a throw-away ``_Position`` model whose
  ``state`` is the conversation's stored state, fires one trigger on it and reads the new state.
  No model is ever registered with a machine, so nothing about a user stays in memory.
- Triggers: ``press__<button id>`` for a button and ``text`` for free text. Guards (``if``) are
  transition conditions; the options of ``text`` are tried in file order, as transitions does.
- A target in another flow (``flow.state``) or a special target (``@back``, ``@menu``) is a leaf
  state of this machine named exactly so; the engine moves the conversation there.
- ``auto_transitions=False`` and ``ignore_invalid_triggers=False``: only what the YAML says exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from transitions import EventData, Machine

from bot.core.flow_schema import ButtonSpec, FlowSpec, StateSpec, TextOption
from bot.core.registry import Registry, Scratch

TEXT_TRIGGER = "text"


def press_trigger(button_id: str) -> str:
    return f"press__{button_id}"


@dataclass(slots=True)
class _Position:
    """The model ``transitions`` moves: one conversation's place, for one trigger."""

    state: str
    fired: list[ButtonSpec | TextOption] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Move:
    """A transition that fired: which spec, and the target as written (None = stay)."""

    spec: ButtonSpec | TextOption
    target: str | None


class FlowMachine:
    def __init__(self, spec: FlowSpec, registry: Registry) -> None:
        self.spec = spec
        external = sorted(
            {t for s in spec.states.values() for t in _targets(s) if t not in spec.states}
        )
        self._machine = Machine(
            model=None,
            states=[*spec.states, *external],
            initial=None,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        for name, state in spec.states.items():
            for button in state.buttons:
                self._add(press_trigger(button.id), name, button.goto, button, registry)
            for option in state.text:
                self._add(TEXT_TRIGGER, name, option.goto, option, registry)

    def _add(self, trigger: str, source: str, dest: str | None,
             spec: ButtonSpec | TextOption, registry: Registry) -> None:
        conditions = []
        if spec.if_ is not None:
            condition = registry.conditions[spec.if_]
            conditions.append(lambda event: condition(event.kwargs["scratch"]))

        def remember(event: EventData) -> None:
            event.model.fired.append(spec)

        self._machine.add_transition(trigger, source, dest, conditions=conditions,
                                     after=[remember])

    def fire(self, state: str, trigger: str, scratch: Scratch) -> Move | None:
        """Fire ``trigger`` from ``state``; None when no transition's guard allows it."""
        position = _Position(state)
        event = self._machine.events.get(trigger)
        if event is None or not event.transitions.get(state):
            return None
        if not event.trigger(position, scratch=scratch) or not position.fired:
            return None
        spec = position.fired[-1]
        return Move(spec=spec, target=spec.goto)


def _targets(state: StateSpec) -> list[str]:
    return [b.goto for b in state.buttons] + [o.goto for o in state.text if o.goto]


class FlowSet:
    """Every loaded flow and its machine; immutable after loading."""

    def __init__(self, specs: Mapping[str, FlowSpec], registry: Registry) -> None:
        self.specs: Mapping[str, FlowSpec] = MappingProxyType(dict(specs))
        self.registry = registry
        self._machines = {name: FlowMachine(spec, registry) for name, spec in specs.items()}

    def state(self, flow: str, name: str) -> StateSpec | None:
        spec = self.specs.get(flow)
        return spec.states.get(name) if spec else None

    def machine(self, flow: str) -> FlowMachine:
        return self._machines[flow]

    def text(self, where: str) -> Any:
        flow, name = where.split(".", 1)
        return self.specs[flow].texts[name]

    def all_states(self) -> list[tuple[str, str]]:
        return [(flow, state) for flow, spec in self.specs.items() for state in spec.states]
