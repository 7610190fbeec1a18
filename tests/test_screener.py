"""The risk screener on the shipped lexicon and the labelled development set."""

import json
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.datafile import DataError
from bot.core.risk.lexicon import SIGNALS, Level, load_lexicon
from bot.core.risk.screener import Screener
from bot.risk_tools import _answer, evaluate, read_labelled
from bot.settings import lexicon_dir

TRAINING = Path(__file__).parent.parent / "knowledge" / "risk" / "training"
DEV_SET = TRAINING / "screening_dev.yaml"


@pytest.fixture(scope="module")
def dev_result(screener):
    return evaluate(screener, read_labelled(DEV_SET))


def test_dev_set_is_big_and_mixed():
    rows = read_labelled(DEV_SET)
    assert len(rows) >= 300
    assert {row["lang"] for row in rows} >= {"zh", "zh-Hant", "en"}
    assert {row["kind"] for row in rows} >= {"explicit", "slang", "evasion", "idiom",
                                             "third_person", "legal"}


def test_crisis_messages_are_caught(dev_result):
    assert dev_result["crisis_recall"] >= 0.98, dev_result["misses"]


def test_benign_messages_rarely_alarm(dev_result):
    assert dev_result["benign_false_alarm_rate"] <= 0.05, dev_result["false_alarms"]


def test_distress_is_noticed(dev_result):
    assert dev_result["distress_at_least_low"] >= 0.80, dev_result["distress_missed"]


HELD_OUT = sorted((Path(__file__).parent / "data").glob("screening_*.yaml"))


@pytest.mark.parametrize("path", HELD_OUT, ids=lambda path: path.stem)
def test_the_held_out_sets_keep_their_figures(screener, path):
    """Written blind by separate authors; each was measured once before its misses were
    studied (figures in the closing note of issue 3). This keeps what was reached."""
    result = evaluate(screener, read_labelled(path))
    assert result["crisis_recall"] >= 0.98, result["misses"]
    assert result["benign_false_alarm_rate"] <= 0.05, result["false_alarms"]
    assert result["distress_at_least_low"] >= 0.80, result["distress_missed"]


def test_assessment_explains_itself(screener):
    result = screener.assess("我真的想自 杀")
    assert result.level >= Level.HIGH and result.categories[0] == "suicide"
    [evidence] = [e for e in result.evidence if e.category == "suicide"][:1]
    assert "自 杀" in "我真的想自 杀"[evidence.start:evidence.end]
    assert result.reason


def test_method_with_time_is_imminent(screener):
    assert screener.assess("我已经攒好安眠药了，今晚就吃").level == Level.IMMINENT
    assert screener.assess("I bought the rope, tonight I end it").level == Level.IMMINENT


def test_negation_lowers_only_what_it_negates(screener):
    assert screener.assess("我没有想自杀，只是很累").level < Level.HIGH
    assert screener.assess("我不想活了").level >= Level.HIGH


@pytest.mark.parametrize("message", ["我没有想自杀", "我不是想死，我只是不想上学",
                                     "放心我不会自杀的", "没有想伤害自己，放心",
                                     "i would never hurt myself"])
def test_a_denial_is_not_raised_by_the_model(screener, message):
    assert screener.assess(message).level < Level.HIGH


@pytest.mark.parametrize("message", ["我没有想自杀 只是想永远睡着不醒",
                                     "我从来没有这么想死过", "i've never wanted to die so badly",
                                     "am i ok? not. suicidal thoughts every night"])
def test_a_negation_reaches_only_the_next_term_in_its_sentence(screener, message):
    assert screener.assess(message).level >= Level.HIGH


@pytest.mark.parametrize("message", [
    "asking for a school project: how many tylenol would kill you",
    "纯粹好奇，一次吃多少片安眠药会醒不过来", "就问问 无痛死法有哪些 开玩笑的"])
def test_an_excuse_does_not_lower_a_question_about_a_way_to_die(screener, message):
    assert screener.assess(message).level >= Level.HIGH


def test_news_about_someone_asking_for_a_way_is_still_news(screener):
    message = "新闻里说有人在网上问怎么自杀不痛苦，平台会删这种帖子吗"
    assert screener.assess(message).level < Level.HIGH


def test_news_is_not_a_crisis_but_a_friend_at_risk_is(screener):
    assert screener.assess("新闻里说有个学生自杀了").level < Level.HIGH
    assert screener.assess("my friend told me she wants to kill herself").level >= Level.MEDIUM


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=500))
def test_any_unicode_gets_an_assessment(screener, text):
    result = screener.assess(text)
    assert isinstance(result.level, Level)


def test_a_100kb_message_is_assessed(screener):
    result = screener.assess("今天天气不错。" * 15_000 + "我不想活了")
    assert isinstance(result.level, Level)


def test_matching_does_not_depend_on_lexicon_size():
    big = load_lexicon(lexicon_dir(), repeat=10)
    small = load_lexicon(lexicon_dir())
    assert big.size == small.size * 10


def test_malformed_lexicon_names_file_and_line(tmp_path):
    (tmp_path / "suicide.yaml").write_text(
        "category: suicide\nterms:\n  - term: 自杀\n    lang: zh\n    level: severe\n",
        encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_lexicon(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'suicide.yaml'}:5:")


def test_a_denial_above_low_names_its_line(tmp_path):
    (tmp_path / "suicide.yaml").write_text(
        "category: suicide\nterms:\n  - term: 不想死\n    lang: zh\n    level: high\n"
        "    denies: true\n", encoding="utf-8")
    with pytest.raises(DataError, match="must be level low") as caught:
        load_lexicon(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'suicide.yaml'}:3:")


def test_screen_command_jsonl():
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in
             ("我想紫砂", "笑死我了", "hello")] + ["not json"]
    done = subprocess.run([sys.executable, "-m", "bot.cli", "screen", "--jsonl"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert out[0]["level"] in ("high", "imminent") and out[0]["categories"] == ["suicide"]
    assert out[0]["evidence"] == ["紫砂"]
    assert out[1] == {"level": "none", "categories": [], "evidence": []}
    assert out[3] is None and "stdin line 4" in done.stderr


def test_screening_in_parallel_keeps_every_answer_in_order():
    texts = ["我想紫砂", "笑死我了", "hello", "I want to kill myself"] * 1_300  # several blocks
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in texts]
    lines[4_321] = "not json"
    command = [sys.executable, "-m", "bot.cli", "screen", "--jsonl", "--jobs"]
    one, two = (subprocess.run([*command, jobs], input="\n".join(lines) + "\n",
                               capture_output=True, text=True, timeout=120)
                for jobs in ("1", "2"))
    assert one.returncode == two.returncode == 0
    assert one.stdout == two.stdout and one.stderr == two.stderr
    answers = two.stdout.splitlines()
    assert len(answers) == len(lines) and answers[4_321] == "null"
    assert "stdin line 4322" in two.stderr
    assert json.loads(answers[5_199])["level"] in ("high", "imminent")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_script_gets_each_answer_before_it_writes_the_next_line(jobs):
    """Piped input is screened as it arrives, so a co-process can ask one message at a time."""
    command = [sys.executable, "-m", "bot.cli", "screen", "--jsonl", "--jobs", jobs]
    screen = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        answers = []
        for text in ["我想紫砂", "笑死我了"]:
            screen.stdin.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
            screen.stdin.flush()
            answers.append(_line_within(screen.stdout, seconds=30))
        assert json.loads(answers[0])["level"] in ("high", "imminent")
        assert json.loads(answers[1])["level"] == "none"
    finally:
        screen.stdin.close()
        screen.wait(timeout=30)
    assert screen.returncode == 0


def _line_within(stream, seconds: float) -> str:
    ready, _, _ = select.select([stream], [], [], seconds)
    assert ready, "no answer while the next line waits"
    return stream.readline()


def test_eval_command_reports_the_figures():
    done = subprocess.run([sys.executable, "-m", "bot.cli", "eval", "screening", str(DEV_SET)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "recall of high+imminent" in done.stdout and "confusion" in done.stdout


SAFEGUARDING = [
    "I'm being forced to have sex and I'm only 12",  # the BBC test bots failed in 2018
    "有个网友说如果我不再发照片就把之前的发到我班级群",
    "my friend said goodbye and sent me her stuff, she's not answering",
    "我继父晚上会进我房间摸我", "他说放学后要弄死我", "我想带刀去学校砍那几个人",
    "我吃了一整瓶安眠药", "今晚我就离家出走，再也不回来了", "我把药都攒好了",
    "给妈妈写了封信，等我不在了再让她看", "他把我灌醉以后，我醒来发现衣服被脱了",
    "爸妈在外地打工，好几个月没寄钱回来，我们天天吃泡面",
    "my dad's pistol is loaded and in my room now",
    "人生这个号我想注销了",
]


@pytest.mark.parametrize("message", SAFEGUARDING)
def test_disclosures_that_need_a_person_are_high(screener, message):
    assert screener.assess(message).level >= Level.HIGH


@pytest.mark.parametrize("message", ["她抱着外婆说想死你了", "what does unalive mean?"])
def test_an_idiom_around_the_alarming_words_is_not_a_crisis(screener, message):
    assert screener.assess(message).level < Level.HIGH


@pytest.mark.parametrize("message", ["我们今晚去天台看星星", "我今天好难过，晚上还要吃药",
                                     "今天晚上要吃感冒药", "I have to take my pills tonight"])
def test_a_method_and_a_time_alone_are_not_a_crisis(screener, message):
    assert screener.assess(message).level < Level.HIGH


def test_words_that_mean_risk_together_are_found_apart_and_in_any_order(tmp_path):
    (tmp_path / "suicide.yaml").write_text(
        "category: suicide\nterms:\n  - term: 自杀\n    lang: zh\n    level: high\n"
        "combos:\n  - combo: stockpiling\n    lang: zh\n    level: high\n    within: 10\n"
        "    parts: [[攒, 存起来], [药, 安眠药]]\n", encoding="utf-8")
    screener = Screener(load_lexicon(tmp_path))
    for text in ("我把药都攒起来了", "我攒了好多安眠药", "安眠药我一直偷偷存起来"):
        result = screener.assess(text)
        assert result.level == Level.HIGH and result.evidence[0].term == "stockpiling", text
    far_apart = "我在攒钱买一辆新的自行车，周末去看看，还要去药店"
    assert screener.assess(far_apart).level == Level.NONE


def test_a_combination_with_one_part_names_its_line(tmp_path):
    (tmp_path / "suicide.yaml").write_text(
        "category: suicide\nterms:\n  - term: 自杀\n    lang: zh\n    level: high\n"
        "combos:\n  - combo: lonely\n    lang: zh\n    level: high\n    parts: [[攒]]\n",
        encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_lexicon(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'suicide.yaml'}:10:")


@pytest.mark.parametrize("message", [
    "我朋友发消息说谢谢你一直陪着我，然后就一直不回了",
    "吃多少颗安眠药会死", "如果我消失了，大家会不会更轻松", "刀放在枕头下面了",
    "i want to k.i.l.l m.y.s.e.l.f", "i've been saving up my pills for a while",
])
def test_indirect_signs_of_danger_are_high(screener, message):
    assert screener.assess(message).level >= Level.HIGH


def test_a_classmate_at_risk_is_not_a_class(screener):
    assert screener.assess("classmate told me she wants to kill herself").level >= Level.HIGH


def test_a_threat_said_as_a_joke_is_low_but_a_death_wish_never_is(screener):
    assert screener.assess("弟弟把我的乐高拆了，我要杀了他（开玩笑的）").level < Level.MEDIUM
    assert screener.assess("this essay makes me want to kill myself jk").level >= Level.HIGH


def test_the_judgement_reads_only_signals_the_lexicon_defines():
    """A reading holds only the signals found, so a misspelt name would read as never found."""
    import bot.core.risk.screener as screener_module
    source = Path(screener_module.__file__).read_text(encoding="utf-8")
    named = set(re.findall(r'"(\w+)" (?:not )?in signals|signals\.get\("(\w+)"', source))
    names = {name for pair in named for name in pair if name}
    assert len(names) >= 10 and names <= set(SIGNALS), names - set(SIGNALS)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["我想紫砂", "笑死", "kill myself", "他打我", '"引号"', "\\",
                                 "\ud800", "\x00", "今晚吞药", "我没有想自杀", "🙂", " "]),
                max_size=6).map("".join))
def test_screen_answers_are_the_json_they_stand_for(screener, text):
    """``qingxin screen`` writes its answers by hand, for speed; they must be what json writes."""
    result = screener.assess(text)
    expected = json.dumps({"level": result.level.label, "categories": list(result.categories),
                           "evidence": [e.quote for e in result.evidence]}, ensure_ascii=False)
    assert _answer(result) == expected + "\n"
