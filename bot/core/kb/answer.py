"""Turning a question into a reply: a cited answer, close questions to pick from, or a person.

Buttons carry ``kb:`` payloads the engine understands anywhere: ``kb:show:<id>`` shows an entry,
``kb:vote:<id>:up|down`` records whether it helped, ``kb:human:<skill>`` asks for a counselor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.core.events import Button
from bot.core.flow_schema import Text
from bot.core.kb.model import Entry, Knowledge
from bot.core.kb.search import Hit, Index

ANSWER_AT = 0.3  # confidence to answer outright (chosen with `qingxin eval kb`)
SUGGEST_AT = 0.1  # below this nothing is close enough to suggest
LEGAL_WORDS = re.compile(r"法|违法|犯法|合法|判|刑|报警|权利|起诉|律师|赔偿|监护|legal|law|illegal|"
                         r"rights?|sue|court|police|lawyer", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class KbQuery:
    """A question the knowledge base was asked, for authors (`qingxin kb stats`)."""

    question: str
    top_id: str | None
    confidence: float
    answered: bool
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class KbVote:
    entry_id: str
    helpful: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class KbReply:
    text: str
    buttons: tuple[Button, ...]
    entry_id: str | None  # the entry answered, if any
    top_id: str | None
    confidence: float

    @property
    def answered(self) -> bool:
        return self.entry_id is not None


class KnowledgeBase:
    def __init__(self, knowledge: Knowledge, index: Index) -> None:
        self.knowledge = knowledge
        self.index = index

    def search(self, question: str, top: int = 3) -> list[Hit]:
        return self.index.search(question, top)

    def citations(self, entry: Entry, lang: str) -> str:
        laws = self.knowledge.laws
        if lang == "en":
            return "; ".join(f"{laws[c.law].title_en}, {c.label_en}" for c in entry.citations)
        return "；".join(f"《{c.law}》{c.label_zh}" for c in entry.citations)

    def show(self, entry: Entry, lang: str, text: Callable[[str], Text]) -> KbReply:
        body = entry.answer.get(lang)
        if entry.citations:
            body += f"\n\n{text('based_on').get(lang)}：{self.citations(entry, lang)}" \
                if lang != "en" else f"\n\n{text('based_on').get(lang)}: " \
                f"{self.citations(entry, lang)}"
        skill = "legal" if entry.topic == "law" else "psych"
        buttons = (Button(label=text("helpful").get(lang), payload=f"kb:vote:{entry.id}:up"),
                   Button(label=text("not_helpful").get(lang),
                          payload=f"kb:vote:{entry.id}:down"),
                   Button(label=text("legal_counselor" if skill == "legal" else "counselor")
                          .get(lang), payload=f"kb:human:{skill}"))
        return KbReply(text=body, buttons=buttons, entry_id=entry.id, top_id=entry.id,
                       confidence=1.0)

    def answer(self, question: str, lang: str, text: Callable[[str], Text]) -> KbReply:
        hits = self.search(question)
        skill = "legal" if LEGAL_WORDS.search(question) else "psych"
        human = Button(label=text("legal_counselor" if skill == "legal" else "counselor")
                       .get(lang), payload=f"kb:human:{skill}")
        if hits and hits[0].confidence >= ANSWER_AT:
            reply = self.show(hits[0].entry, lang, text)
            return KbReply(text=reply.text, buttons=reply.buttons, entry_id=reply.entry_id,
                           top_id=reply.entry_id, confidence=hits[0].confidence)
        close = [h for h in hits if h.confidence >= SUGGEST_AT]
        top_id = hits[0].entry.id if hits else None
        confidence = hits[0].confidence if hits else 0.0
        if not close:
            return KbReply(text=text("nothing").get(lang), buttons=(human,), entry_id=None,
                           top_id=top_id, confidence=confidence)
        buttons = tuple(Button(label=h.entry.title.get(lang)[:60], payload=f"kb:show:{h.entry.id}")
                        for h in close)
        return KbReply(text=text("unsure").get(lang), buttons=(*buttons, human), entry_id=None,
                       top_id=top_id, confidence=confidence)
