"""Every legal citation is checked against the official statute texts in ../shared/laws:
the article exists, and the words the answer relies on are in it."""

import re
from pathlib import Path

import pytest

from bot.app import build_knowledge_base

LAWS_DIR = Path(__file__).resolve().parents[2] / "shared" / "laws"
DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    if n < 10:
        return DIGITS[n]
    if n < 20:
        return "十" + (DIGITS[n % 10] if n % 10 else "")
    thousands, hundreds, tens, ones = n // 1000, n // 100 % 10, n // 10 % 10, n % 10
    out = ""
    if thousands:
        out += DIGITS[thousands] + "千"
    if hundreds:
        out += DIGITS[hundreds] + "百"
    elif thousands and (tens or ones):
        out += "零"
    if tens:
        out += DIGITS[tens] + "十"
    elif (thousands or hundreds) and ones and not out.endswith("零"):
        out += "零"
    if ones:
        out += DIGITS[ones]
    return out


def test_chinese_numbers():
    assert [chinese_number(n) for n in (7, 17, 20, 63, 105, 110, 236, 1001, 1084, 1188)] == [
        "七", "十七", "二十", "六十三", "一百零五", "一百一十", "二百三十六", "一千零一",
        "一千零八十四", "一千一百八十八"]


def article_text(files: list[Path], article: int | str) -> str | None:
    number, _, sub = str(article).partition("-")
    head = f"第{chinese_number(int(number))}条" + (f"之{DIGITS[int(sub)]}" if sub else "")
    start = re.compile(rf"^{head}(?![之\d])[\s　]")
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if start.match(line):
                body = [line]
                for following in lines[i + 1:]:
                    if re.match(r"^(第[零一二三四五六七八九十百千]+条|#)", following):
                        break
                    body.append(following)
                return "\n".join(body)
    return None


KB = build_knowledge_base()
CITED = [(entry.id, citation) for entry in (KB.knowledge.entries if KB else ())
         for citation in entry.citations]


@pytest.mark.skipif(not LAWS_DIR.is_dir(), reason=f"statute texts not found in {LAWS_DIR}")
@pytest.mark.parametrize(("entry_id", "citation"), CITED,
                         ids=[f"{e}-{c.law}-{c.article}" for e, c in CITED])
def test_cited_article_exists_and_says_it(entry_id, citation):
    law = KB.knowledge.laws[citation.law]
    if not law.files:
        assert citation.article in law.verified_articles, (
            f"{entry_id}: {citation.law} has no official text here; article "
            f"{citation.article} must be listed with where it was verified in laws.yaml")
        return
    text = article_text([LAWS_DIR / name for name in law.files], citation.article)
    assert text is not None, f"{entry_id}: {citation.law} has no article {citation.article}"
    missing = [term for term in citation.terms if term not in text]
    assert not missing, f"{entry_id}: {citation.law} art. {citation.article} lacks {missing}"


def test_every_legal_entry_cites_checked_terms():
    assert KB is not None
    for entry in KB.knowledge.entries:
        if entry.topic == "law":
            assert entry.citations and all(c.terms for c in entry.citations), entry.id


FLOW_CITATION = re.compile(r"《([^》]+)》第([零一二三四五六七八九十百千]+)条")


def _from_chinese(numeral: str) -> int:
    return next(n for n in range(1, 2000) if chinese_number(n) == numeral)


@pytest.mark.skipif(not LAWS_DIR.is_dir(), reason=f"statute texts not found in {LAWS_DIR}")
def test_articles_cited_in_the_flows_exist():
    from tests.conftest import FLOWS_DIR

    assert KB is not None
    checked = 0
    for path in FLOWS_DIR.glob("*.yaml"):
        for law, numeral in FLOW_CITATION.findall(path.read_text(encoding="utf-8")):
            assert law in KB.knowledge.laws, f"{path.name}: unknown law {law}"
            files = [LAWS_DIR / name for name in KB.knowledge.laws[law].files]
            assert files, f"{path.name}: {law} has no text to check against"
            assert article_text(files, _from_chinese(numeral)) is not None, (
                f"{path.name}: {law} has no article {numeral}")
            checked += 1
    assert checked >= 20
