"""The typed shape of a flow file (see ``flows/README.md``), checked by pydantic.

Only the shape is checked here; rules that need every flow at once (targets, reachability,
registry names) live in ``flow_loader``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from bot.core.events import Lang

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A state of this flow, ``flow.state``, or ``@back`` / ``@menu`` (resolved by the engine).
TARGET_PATTERN = r"^(@back|@menu|([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*)$"

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Target = Annotated[str, StringConstraints(pattern=TARGET_PATTERN)]
Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Text(_Strict):
    """A message in every language the bot speaks."""

    zh: Words
    en: Words

    def get(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


class ButtonSpec(_Strict):
    id: Name
    label: Text
    goto: Target
    set: dict[Name, str] = Field(default_factory=dict)
    if_: Name | None = Field(default=None, alias="if")


class TextOption(_Strict):
    if_: Name | None = Field(default=None, alias="if")
    capture: Name | None = None
    say: Text | None = None
    goto: Target | None = None


class StateSpec(_Strict):
    say: Text
    buttons: tuple[ButtonSpec, ...] = ()
    text: tuple[TextOption, ...] = ()
    enter: tuple[Name, ...] = ()


class FlowSpec(_Strict):
    """A flow: states with a start, and/or named texts the engine says (a texts-only file has
    neither ``start`` nor ``states``)."""

    flow: Name
    start: Name | None = None
    states: dict[Name, StateSpec] = Field(default_factory=dict)
    texts: dict[Name, Text] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_content(self) -> FlowSpec:
        if not self.states and not self.texts:
            raise ValueError("a flow needs states (with a start) or texts")
        if self.states and self.start is None:
            raise ValueError("a flow with states needs a start")
        return self
