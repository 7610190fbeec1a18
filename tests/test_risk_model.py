"""The screener's learned second opinion: trained from the shipped data, loaded with checks, and
only ever raising what the lexicon found."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.datafile import DataError
from bot.core.risk.lexicon import Level, load_lexicon
from bot.core.risk.model import MODEL_FILE, _GramTable, features, load_model
from bot.core.risk.normalize import normalize
from bot.core.risk.screener import Screener
from bot.risk_tools import read_labelled
from bot.risk_training import fingerprint, fit, training_files, write_model
from bot.settings import lexicon_dir

TRAINING = lexicon_dir() / "training"


@pytest.fixture(scope="module")
def lexicon_only():
    return Screener(load_lexicon(lexicon_dir()))


def test_the_shipped_model_was_trained_on_the_shipped_data():
    """Retrain with `qingxin train screening` after changing knowledge/risk/training/."""
    shipped = json.loads((lexicon_dir() / MODEL_FILE).read_text(encoding="utf-8"))
    assert shipped["trained_on"]["files"] == fingerprint(training_files(TRAINING))


def test_screening_finds_the_features_training_counts():
    """A block of messages read at screening time and ``features()`` at training time must
    find the same features (one message alone is read by ``features()`` itself)."""
    model = load_model(lexicon_dir())
    shipped = json.loads((lexicon_dir() / MODEL_FILE).read_text(encoding="utf-8"))
    vocabulary = set(shipped["weights"])
    rows = read_labelled(TRAINING / "screening_dev.yaml")
    texts = [normalize(row["text"]).text for row in rows] + ["i want to", "a  b", "我 want 死", ""]
    for text, found in zip(texts, model.features_in(texts), strict=True):
        learnt = {feature for feature in features(text) if feature in vocabulary}
        assert found == learnt, text


def test_a_block_scores_each_message_as_it_scores_alone():
    """``qingxin screen`` scores blocks with numpy; the chat scores one message by dict lookups."""
    model = load_model(lexicon_dir())
    texts = [normalize(row["text"]).text for row in read_labelled(TRAINING / "screening_dev.yaml")]
    crisis, distress, strongest = model.score_many(texts)
    for i, text in enumerate(texts):
        alone = model.score_many([text])
        assert alone.crisis[0] == pytest.approx(crisis[i], abs=1e-12), text
        assert alone.distress[0] == pytest.approx(distress[i], abs=1e-12), text
        assert alone.strongest[0] == strongest[i], text
        assert model.score(text).crisis == alone.crisis[0]
    # the strongest feature is one of the text's own, and none weighs more
    weights = {feature: row for row, feature in enumerate(model._features)}
    for text, found, row in zip(texts, model.features_in(texts), strongest, strict=True):
        assert (model.feature(int(row)) in found) if found else row == -1, text
        assert all(model._table[weights[f], 0] <= model._table[row, 0] for f in found), text


def test_a_block_read_in_slices_scores_the_same(monkeypatch):
    """A block of long messages is read a slice at a time, so memory stays bounded."""
    import bot.core.risk.model as model_module
    model = load_model(lexicon_dir())
    texts = [normalize(row["text"]).text for row in read_labelled(TRAINING / "screening_dev.yaml")]
    whole = model.score_many(texts)
    monkeypatch.setattr(model_module, "MAX_SLICE_CHARS", 200)
    sliced = model.score_many(texts)
    assert whole.crisis == pytest.approx(sliced.crisis)
    assert whole.distress == pytest.approx(sliced.distress)
    assert (whole.strongest == sliced.strongest).all()


def test_the_model_raises_levels_and_never_lowers_them(screener, lexicon_only):
    rows = [row for path in training_files(TRAINING) for row in read_labelled(path)]
    texts = [row["text"] for row in rows]
    raised = 0
    for text, alone, together in zip(texts, lexicon_only.assess_many(texts),
                                     screener.assess_many(texts), strict=True):
        assert together.level >= alone.level, text
        raised += together.level > alone.level
    assert raised  # it does add something


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=120), st.sampled_from(
    ["我已经把要说的话都写在信里了，放在书桌抽屉", "笑死我了", "i keep giving my stuff away",
     "今天天气很好", "", "我没有想自杀，只是很累。可是最近总想一直睡下去不醒"])), max_size=12))
def test_many_messages_at_once_are_judged_as_each_alone(screener, texts):
    """``qingxin screen`` assesses a block of messages together; each answer is the one the
    message gets on its own."""
    assert screener.assess_many(texts) == [screener.assess(text) for text in texts]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_the_model_alone_never_makes_a_message_imminent(screener, text):
    result = screener.assess(text)
    if result.level == Level.IMMINENT:
        assert "method" in result.reason or any(e.level == Level.IMMINENT
                                                 for e in result.evidence)


@pytest.mark.parametrize("message", [
    "我想跟你聊聊天", "我能找个老师说说话吗", "请问青心是做什么的", "我是初三学生，想问个事",
    "我是孩子爸爸", "好的谢谢", "我也说不清楚", "hi, can I ask you something",
    "I'd like to speak to a counselor", "I'm a parent of a 14 year old",
])
def test_everyday_messages_are_not_a_crisis(screener, message):
    assert screener.assess(message).level < Level.MEDIUM


@pytest.fixture(scope="module")
def model_only(tmp_path_factory):
    """The shipped model beside a lexicon that knows a single unrelated word."""
    directory = tmp_path_factory.mktemp("lexicon")
    for name in ("signals.yaml", "benign.yaml"):
        shutil.copy(lexicon_dir() / name, directory / name)
    (directory / "suicide.yaml").write_text(
        "category: suicide\nterms:\n  - term: zzzz\n    lang: en\n    level: high\n",
        encoding="utf-8")
    return Screener(load_lexicon(directory), load_model(lexicon_dir()))


@pytest.mark.parametrize("message", [
    "我已经把要说的话都写在信里了，放在书桌抽屉，爸妈以后会看到的",
    "i keep giving my stuff away to friends, won't need it where i'm going",
    "最近总在想，要是我一直睡下去不醒该多好", "他说这是我们的小秘密，不能告诉妈妈",
])
def test_the_model_alone_hears_indirect_danger(model_only, message):
    result = model_only.assess(message)
    assert result.level >= Level.HIGH
    assert any(e.term.startswith("model") for e in result.evidence)


@pytest.mark.parametrize("message", ["我想跟你聊聊天", "周末去公园放风筝", "what time is it"])
def test_the_model_alone_leaves_everyday_talk_alone(model_only, message):
    assert model_only.assess(message).level < Level.MEDIUM


def test_training_writes_a_model_the_screener_loads(tmp_path):
    data = tmp_path / "training"
    data.mkdir()
    rows = ([{"text": f"我真的不想活了{i}", "level": "high"} for i in range(12)]
            + [{"text": f"今天好难过啊{i}", "level": "low"} for i in range(12)]
            + [{"text": f"今天天气很好{i}", "level": "none"} for i in range(12)])
    (data / "tiny.yaml").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / MODEL_FILE
    done = subprocess.run([sys.executable, "-m", "bot.cli", "train", "screening", "--data",
                           str(data), "--out", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    model = load_model(tmp_path)
    assert model is not None and model.trained_on["messages"] == 36
    assert model.score("我真的不想活了").crisis > model.score("今天天气很好").crisis


def test_the_screener_scores_as_training_fitted(tmp_path):
    """The crisis head's arithmetic is written twice, with scipy in training and with numpy in
    the screener: on the messages it was trained on, the shipped file must score as the fitted
    heads do (up to the file's rounding of weights to five decimals)."""
    fitted = fit([TRAINING / "screening_dev.yaml"])
    write_model(fitted.content, tmp_path / MODEL_FILE)
    model = load_model(tmp_path)
    scores = model.score_many(fitted.texts)
    assert scores.crisis == pytest.approx(fitted.crisis, abs=2e-3)
    assert scores.distress == pytest.approx(fitted.distress, abs=2e-3)
    alone = [model.score(text) for text in fitted.texts[:50]]
    assert [score.crisis for score in alone] == pytest.approx(fitted.crisis[:50], abs=2e-3)


def test_a_malformed_model_names_its_file_and_line(tmp_path):
    (tmp_path / MODEL_FILE).write_text('{\n "version": 1,\n "heads": [\n', encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_model(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / MODEL_FILE}:4:")


@given(st.sets(st.integers(0, 2**63 - 1), max_size=300),
       st.lists(st.integers(0, 2**63 - 1), max_size=50))
def test_the_gram_table_finds_every_key_and_nothing_else(keys, others):
    """The hash table that stands in for a binary search: linear probing, many collisions."""
    keys = sorted(keys)
    table = _GramTable(np.array(keys, dtype=np.int64), np.arange(len(keys), dtype=np.int64) * 7)
    asked = keys + others
    expected = [keys.index(k) * 7 if k in keys else -1 for k in asked]
    assert table.rows(np.array(asked, dtype=np.int64)).tolist() == expected
