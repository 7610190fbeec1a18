"""Small talk in a conversation: a greeting, 在吗, thanks or goodbye gets a kind word, never
"I can't answer that one yet", and never gets in the way of screening."""

from pathlib import Path

import pytest

from bot.core.datafile import DataError
from bot.core.smalltalk import load_smalltalk

NOTHING = ("这个问题我暂时回答不了", "I can't answer that one yet")


def _text(replies) -> str:
    return "\n".join(reply.text for reply in replies)


@pytest.mark.parametrize("message", ["你好呀！！", "hello 👋", "Hi there", "哈囉", "早上好～"])
def test_a_greeting_after_the_welcome_is_greeted_and_the_choices_shown_again(chat, message):
    chat.send("你好")
    replies = chat.send(message)
    assert not any(part in _text(replies) for part in NOTHING)
    assert replies[-1].state == "main.welcome"
    assert [b.payload for b in replies[-1].buttons][:2] == ["main.welcome:teen",
                                                           "main.welcome:parent"]


def test_asking_whether_anyone_is_there_is_answered_in_any_menu(chat):
    chat.send("hi")
    chat.press("teen")
    replies = chat.send("有人在嗎？")
    assert "我在的" in replies[0].text
    assert replies[-1].state == "teen.menu" and replies[-1].buttons


def test_thanks_and_goodbye_get_a_kind_word_and_goodbye_the_contacts(chat):
    chat.send("hi")
    assert "welcome" in chat.send("thanks!")[0].text.casefold()
    goodbye = _text(chat.send("bye"))
    assert "110" in goodbye and "12355" in goodbye


@pytest.mark.parametrize("message", ["你好，我被同学打了", "hello, can I sue my school?",
                                     "谢谢你们，我走了，以后不会再麻烦你们了"])
def test_a_message_that_says_more_than_hello_is_not_small_talk(chat, message):
    chat.send("hi")
    replies = chat.send(message)
    assert not any(reply.text.startswith(("你好呀", "Hi there", "不客气", "You're welcome"))
                   for reply in replies)


def test_a_farewell_that_may_mean_danger_meets_the_crisis_protocol(chat):
    chat.send("hi")
    replies = chat.send("拜拜了，永别了，我要去另一个世界了")
    assert replies[0].state.startswith("crisis.")
    assert "12355" in _text(replies)


def test_a_bad_phrase_list_names_its_file_and_line(tmp_path: Path):
    path = tmp_path / "smalltalk.yaml"
    path.write_text("greeting: [hi]\npresence: [在吗]\nthanks:\n  - 谢谢\n  - 謝謝\n"
                    "goodbye: [bye]\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_smalltalk(path)
    assert str(caught.value).startswith(f"{path}:5:5: ")
    path.write_text("greeting: [hi]\nhugs: [抱抱]\n", encoding="utf-8")
    with pytest.raises(DataError, match=r":2:1: unknown intent 'hugs'"):
        load_smalltalk(path)
