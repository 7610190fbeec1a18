"""The knowledge base in conversation and on the command line."""

import json
import subprocess
import sys

import pytest

from bot.app import build_knowledge_base
from bot.core.kb.answer import KbQuery, KbVote
from tests.conftest import Chat

KB = build_knowledge_base()
pytestmark = pytest.mark.skipif(KB is None, reason="the knowledge base has no entries")


@pytest.fixture
def kb_chat(engine):
    chat = Chat(engine)
    chat.send("你好")
    chat.press("teen")
    return chat


def test_a_question_gets_a_cited_answer_with_votes(kb_chat):
    [answer] = kb_chat.send("我被人打了，可以报警吗？")
    assert "依据" in answer.text and "《" in answer.text and "第" in answer.text
    payloads = [b.payload for b in answer.buttons]
    assert any(p.startswith("kb:vote:") and p.endswith(":up") for p in payloads)
    assert "kb:human:legal" in payloads and "kb:menu" in payloads
    [query] = [r for r in kb_chat.last.records if isinstance(r, KbQuery)]
    assert query.answered and query.confidence > 0


def test_english_and_traditional_questions(kb_chat):
    [answer] = kb_chat.send("Can I call the police if a classmate hit me?")
    assert "Based on" in answer.text
    [answer] = kb_chat.send("我被人打了，可以報警嗎")
    assert "依据" in answer.text


def test_votes_are_recorded(kb_chat):
    [answer] = kb_chat.send("我被人打了可以报警吗")
    up = next(b.payload for b in answer.buttons if b.payload.endswith(":up"))
    kb_chat.send(button=up)
    assert any(isinstance(r, KbVote) and r.helpful for r in kb_chat.last.records)


def test_a_legal_question_beyond_the_base_offers_a_legal_counselor(kb_chat):
    replies = kb_chat.send("公司股东分红的个人所得税税率是多少，违法吗")
    payloads = [b.payload for r in replies for b in r.buttons]
    assert "kb:human:legal" in payloads
    replies = kb_chat.send(button="kb:human:legal")
    assert kb_chat.conversation.slots["topic"] == "legal"
    assert any("12355" in r.text for r in replies)


@pytest.mark.parametrize("question", ["", "？？？！！", "😀😀😀", "字" * 10_000, "asdf qwer",
                                      "mixed 中文 and English 問題"])
def test_odd_questions_get_an_answer_a_clarification_or_a_counselor(kb_chat, question):
    replies = kb_chat.send(question)
    assert replies and all(r.text for r in replies)


def test_search_command_json_and_jsonl():
    done = subprocess.run([sys.executable, "-m", "bot.cli", "kb", "search", "被人打了能报警吗",
                           "--json", "--top", "2"], capture_output=True, text=True, timeout=60)
    hits = json.loads(done.stdout)
    assert len(hits) == 2 and {"id", "title", "score", "citations"} <= set(hits[0])
    lines = "\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in ("报警", "")) + "\nx\n"
    done = subprocess.run([sys.executable, "-m", "bot.cli", "kb", "search", "--jsonl"],
                          input=lines, capture_output=True, text=True, timeout=60)
    out = done.stdout.splitlines()
    assert len(out) == 3 and json.loads(out[0]) and out[2] == "null"


def test_lint_passes_on_the_shipped_entries():
    done = subprocess.run([sys.executable, "-m", "bot.cli", "kb", "lint"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout


def test_paraphrases_find_the_right_law_and_article():
    from pathlib import Path

    from bot.kb_tools import evaluate, read_labelled

    rows = read_labelled(Path(__file__).parent / "data" / "kb_paraphrases.yaml")
    assert len(rows) >= 150
    result = evaluate(KB, rows)
    assert result["law_article_top3"] >= 0.90, result["misses"][:10]
    assert result["law_article_top1"] >= 0.75, result["misses"][:10]
    assert result["top3"] >= 0.85


@pytest.mark.skipif(KB is None, reason="the knowledge base has no entries")
def test_any_unicode_free_text_with_the_knowledge_base_never_raises(engine):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=150, deadline=None)
    @given(st.text(alphabet=st.characters(exclude_categories=()), max_size=300))
    def check(text):
        chat = Chat(engine)
        chat.send("hi")
        chat.press("teen")
        replies = chat.send(text)
        assert replies and all(r.text for r in replies)

    check()
