"""``qingxin kb search|lint|stats`` and ``qingxin eval kb``: the knowledge base for authors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

import yaml

from bot.core.kb.answer import KnowledgeBase
from bot.core.kb.model import lint
from bot.core.kb.search import Hit
from bot.text_lines import read_texts


def hit_json(hit: Hit, lang: str = "zh") -> dict[str, Any]:
    return {"id": hit.entry.id, "title": hit.entry.title.get(lang),
            "score": round(hit.score, 4), "confidence": round(hit.confidence, 4),
            "citations": [{"law": c.law, "article": c.article} for c in hit.entry.citations]}


def search_lines(kb: KnowledgeBase, stdin: TextIO, stdout: TextIO, stderr: TextIO,
                 top: int) -> int:
    for question in read_texts(stdin, stderr, jsonl=True):
        if question is None:
            stdout.write("null\n")
            continue
        hits = kb.search(question, top)
        stdout.write(json.dumps([hit_json(h) for h in hits], ensure_ascii=False) + "\n")
    return 0


def lint_lines(kb: KnowledgeBase) -> list[str]:
    return [str(issue) for issue in lint(kb.knowledge)]


def read_labelled(path: Path) -> list[dict[str, Any]]:
    """Labelled questions: a YAML list or JSON lines of ``{text, id}`` (the expected entry)."""
    text = path.read_text(encoding="utf-8")
    rows = ([json.loads(line) for line in text.splitlines() if line.strip()]
            if path.suffix == ".jsonl" else yaml.safe_load(text))
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or "text" not in row or "id" not in row:
            raise ValueError(f"{path}: item {i} needs text and id")
    return rows


def evaluate(kb: KnowledgeBase, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Top-1 and top-3 accuracy by entry, and by law and article for legal questions."""
    top1 = top3 = law1 = law3 = legal = 0
    misses = []
    for row in rows:
        hits = kb.search(row["text"], 3)
        ids = [h.entry.id for h in hits]
        top1 += bool(ids) and ids[0] == row["id"]
        top3 += row["id"] in ids
        expected = kb.knowledge.entry(row["id"])
        if expected is not None and expected.citations:
            legal += 1
            wanted = {(c.law, c.article) for c in expected.citations}
            cited = [{(c.law, c.article) for c in h.entry.citations} for h in hits]
            law1 += bool(cited) and bool(cited[0] & wanted)
            law3 += any(c & wanted for c in cited)
        if row["id"] not in ids[:1]:
            misses.append({"text": row["text"], "expected": row["id"], "got": ids})
    count = len(rows) or 1
    return {"questions": len(rows), "top1": top1 / count, "top3": top3 / count,
            "legal_questions": legal, "law_article_top1": law1 / legal if legal else None,
            "law_article_top3": law3 / legal if legal else None, "misses": misses}


def stats(engine: Any) -> dict[str, Any]:
    """Unanswered and low-confidence questions and the votes, from the database."""
    from sqlalchemy import select

    from storage.models import kb_events

    with engine.begin() as connection:
        rows = list(connection.execute(select(kb_events).order_by(kb_events.c.id)).mappings())
    unanswered = Counter(r["question"] for r in rows if r["kind"] == "query"
                         and not r["answered"])
    votes: dict[str, Counter[str]] = {}
    for r in rows:
        if r["kind"] == "vote":
            votes.setdefault(r["entry_id"], Counter())["up" if r["helpful"] else "down"] += 1
    asked = sum(1 for r in rows if r["kind"] == "query")
    return {"questions": asked, "answered": asked - sum(unanswered.values()),
            "unanswered": unanswered.most_common(50),
            "votes": {entry: dict(c) for entry, c in sorted(votes.items())}}
