"""Normalisation undoes the disguises teens use and maps every character back to the original."""

from hypothesis import given
from hypothesis import strategies as st

from bot.core.risk.normalize import _LEET_NEAR, _LEET_RUN, normalize


def test_disguises_are_undone():
    cases = {
        "我想自 杀": "我想自杀", "我想自.杀": "我想自杀", "自*杀": "自杀", "自\u200b杀": "自杀",
        "我、要、紫、砂": "我要紫砂", "我覺得很難過": "我觉得很难过", "ＫＩＬＬ": "kill",
        "k!ll mys3lf": "kill myself", "I want to k.i.l.l myself": "i want to kill myself",
        "S-U-I-C-I-D-E": "suicide", "k-i-l-l m-y-s-e-l-f": "kill myself",
        "i   d o n t   c a r e": "i dont care",
        "killllll": "kill", "4buse": "abuse",
        "不\u200d想\u200b活了": "不想活了", "\u202eevil": "evil", "活著好累": "活着好累",
    }
    for raw, expected in cases.items():
        assert normalize(raw).text == expected, raw


def test_chinese_punctuation_parts_clauses():
    assert normalize("这个boss怎么打，我已经死了十几次").text == "这个boss怎么打 我已经死了十几次"
    assert normalize("我想自杀。真的").text == "我想自杀 真的"


def test_ordinary_text_keeps_its_words_and_numbers():
    assert normalize("I am 15 years old!").text == "i am 15 years old"
    assert normalize("i want to die!").text == "i want to die"
    assert normalize("I don't know").text == "i don't know"
    assert normalize("  hi   there ").text == "hi there"


def test_spans_map_back_to_what_the_user_wrote():
    raw = "今天 我想 自 . 杀 了"
    norm = normalize(raw)
    start = norm.text.index("自杀")
    a, b = norm.span(start, start + 2)
    assert raw[a:b] == "自 . 杀"


@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=200))
def test_any_unicode_normalises_and_maps_back(text):
    norm = normalize(text)
    assert len(norm.origin) == len(norm.text)
    assert all(0 <= i < len(text) for i in norm.origin)
    assert list(norm.origin) == sorted(norm.origin)


@given(st.text(alphabet="abkilmsy0134579@!$|+ .我", max_size=40))
def test_the_quick_check_for_digit_spellings_never_skips_one(text):
    """``normalize`` only runs the slow ``_LEET_RUN`` where ``_LEET_NEAR`` finds something."""
    assert not _LEET_RUN.search(text) or _LEET_NEAR.search(text)
