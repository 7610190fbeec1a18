"""Knowledge-base entries and the list of citable laws, as typed and validated data.

Format: ``knowledge/kb/README.md``. ``load_knowledge`` raises ``DataError`` with
``path:line:col`` for every problem; ``lint`` adds the softer checks authors want to see.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.core.datafile import DataError, DataIssue, Positions, load_yaml
from bot.core.flow_schema import Text, Words

EntryId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]
ANSWER_LIMIT = 650  # characters; "about 600" with room for the closing line
TOPICS = ("law", "bullying", "feelings", "parenting", "online_safety")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Questions(_Strict):
    zh: tuple[Words, ...] = Field(min_length=3)
    en: tuple[Words, ...] = Field(min_length=1)


class Citation(_Strict):
    law: Words
    # an article number, or "236-1" for 第二百三十六条之一
    article: int | Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*-[1-9]$")]
    terms: tuple[Words, ...] = ()

    @property
    def label_zh(self) -> str:
        number, _, sub = str(self.article).partition("-")
        return f"第{number}条" + (f"之{'一二三四五六七八九'[int(sub) - 1]}" if sub else "")

    @property
    def label_en(self) -> str:
        return f"Art. {self.article}"


class Entry(_Strict):
    id: EntryId
    audience: Literal["teen", "parent", "both"]
    topic: Literal[TOPICS]  # type: ignore[valid-type]
    title: Text
    questions: Questions
    answer: Text
    citations: tuple[Citation, ...] = ()


class KbFile(_Strict):
    entries: tuple[Entry, ...] = Field(min_length=1)


class Law(_Strict):
    name: Words
    title: Words
    title_en: Words
    effective: Words
    source: Words
    files: tuple[Words, ...] = ()
    verified_articles: dict[int | str, str] = Field(default_factory=dict)


class LawsFile(_Strict):
    laws: tuple[Law, ...]


@dataclass(frozen=True, slots=True)
class Knowledge:
    entries: tuple[Entry, ...]
    laws: dict[str, Law]
    where: dict[str, DataIssue]  # entry id -> its position, for lint messages

    def entry(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)


def _validate(model: type[BaseModel], data: object, positions: Positions,
              issues: list[DataIssue]) -> BaseModel | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            issues.append(positions.issue(loc, f"{'.'.join(map(str, loc))}: {error['msg']}"))
        return None


def load_knowledge(kb_dir: Path, laws_file: Path) -> Knowledge:
    issues: list[DataIssue] = []
    laws: dict[str, Law] = {}
    try:
        data, positions = load_yaml(laws_file)
        parsed = _validate(LawsFile, data, positions, issues)
        if isinstance(parsed, LawsFile):
            laws = {law.name: law for law in parsed.laws}
    except DataError as exc:
        issues.extend(exc.issues)
    entries: list[Entry] = []
    where: dict[str, DataIssue] = {}
    for path in sorted(kb_dir.glob("*.yaml")):
        try:
            data, positions = load_yaml(path)
        except DataError as exc:
            issues.extend(exc.issues)
            continue
        parsed = _validate(KbFile, data, positions, issues)
        if not isinstance(parsed, KbFile):
            continue
        for index, entry in enumerate(parsed.entries):
            here = positions.issue(("entries", index), "")
            if entry.id in where:
                issues.append(positions.issue(("entries", index, "id"),
                                              f"duplicate id {entry.id!r} (first at "
                                              f"{where[entry.id].path}:{where[entry.id].line})"))
                continue
            where[entry.id] = here
            for number, citation in enumerate(entry.citations):
                if citation.law not in laws:
                    issues.append(positions.issue(
                        ("entries", index, "citations", number, "law"),
                        f"unknown law {citation.law!r} (see {laws_file.name})"))
            if entry.topic == "law" and not entry.citations:
                issues.append(positions.issue(("entries", index),
                                              f"legal entry {entry.id!r} cites no law"))
            entries.append(entry)
    if not entries and not issues:
        issues.append(DataIssue(path=str(kb_dir), line=1, col=1, message="no entries"))
    if issues:
        raise DataError(issues)
    return Knowledge(entries=tuple(entries), laws=laws, where=where)


def lint(knowledge: Knowledge) -> Iterator[DataIssue]:
    """Softer rules for authors: duplicate questions, long answers, legal answers that do not
    offer a counselor."""
    seen: dict[str, str] = {}
    for entry in knowledge.entries:
        at = knowledge.where[entry.id]
        for question in (*entry.questions.zh, *entry.questions.en):
            folded = "".join(question.casefold().split())
            if folded in seen and seen[folded] != entry.id:
                yield _at(at, f"{entry.id}: question {question!r} is also in {seen[folded]}")
            seen.setdefault(folded, entry.id)
        for lang in ("zh", "en"):
            text = entry.answer.get(lang)
            if len(text) > ANSWER_LIMIT:
                yield _at(at, f"{entry.id}: {lang} answer has {len(text)} characters "
                              f"(at most {ANSWER_LIMIT})")
        if entry.topic == "law" and "/human" not in entry.answer.zh + entry.answer.en:
            yield _at(at, f"{entry.id}: a legal answer should offer a counselor (/human)")


def _at(where: DataIssue, message: str) -> DataIssue:
    return DataIssue(path=where.path, line=where.line, col=where.col, message=message)
