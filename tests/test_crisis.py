"""The crisis protocol: screening interrupts any flow, gives contacts in the same reply, asks
the NIMH ASQ questions and stores the result with the conversation."""

from dataclasses import replace

import pytest

from tests.conftest import Chat

CRISIS_MESSAGES = ["我不想活了", "我想自 杀", "我想紫砂", "我覺得活著沒意思，想結束生命",
                   "I want to kill myself", "i want to k!ll mys3lf tonight"]


@pytest.mark.parametrize("message", CRISIS_MESSAGES)
def test_a_crisis_message_interrupts_any_state_with_contacts_in_the_same_reply(engine, flow_set,
                                                                                message):
    for flow, state in flow_set.all_states()[::7]:
        chat = Chat(engine)
        chat.send("hi")
        chat.conversation = replace(chat.conversation, flow=flow, state=state)
        reply, *_ = chat.send(message)
        if (flow, state) == ("crisis", "alert"):
            continue
        assert reply.state == "crisis.alert", (flow, state)
        assert all(number in reply.text for number in ("12355", "110", "120"))
        assert chat.last.risk in ("high", "imminent")
        assert "human_requested_at" in chat.conversation.slots


def test_first_message_in_crisis_skips_the_welcome(chat):
    reply, *_ = chat.send("我真的不想活了")
    assert reply.state == "crisis.alert"


def test_asq_acute_positive_sets_imminent(chat):
    chat.send("我不想活了")
    chat.press("questions")
    chat.press("yes")
    chat.press("no")
    chat.press("no")
    chat.press("no_after_yes")
    reply, *_ = chat.press("yes")
    assert reply.state == "crisis.result_acute"
    assert chat.conversation.slots["asq_result"] == "acute_positive"
    assert chat.conversation.slots["risk_level"] == "imminent"


def test_asq_non_acute_positive_sets_high(chat):
    chat.send("我不想活了")
    chat.press("questions")
    chat.press("no")
    chat.press("declined")  # for youth, declining counts as positive
    chat.press("no")
    chat.press("no_after_yes")
    reply, *_ = chat.press("no")
    assert reply.state == "crisis.result_non_acute"
    assert chat.conversation.slots["asq_result"] == "non_acute_positive"
    assert chat.conversation.slots["risk_level"] in ("high", "imminent")


def test_asq_all_no_is_negative_and_skips_question_five(chat):
    chat.send("I want to kill myself")
    chat.press("questions")
    for _ in range(3):
        chat.press("no")
    payloads = [b.payload for b in chat.history[-1].buttons]
    assert "crisis.asq4:no_after_yes" not in payloads
    reply, *_ = chat.press("no")
    assert reply.state == "crisis.result_negative"
    assert chat.conversation.slots["asq_result"] == "negative"


def test_benign_idioms_do_not_set_off_the_protocol(chat):
    chat.send("hi")
    chat.press("teen")
    for text in ("笑死我了哈哈哈", "今天累死了", "我们玩狼人杀吧", "I was killing it in the game",
                 "my phone died lol"):
        chat.send(text)
        assert chat.where == "teen.menu" and chat.last.risk in ("none", "low"), text


def test_buttons_are_not_screened(chat):
    chat.send("hi")
    chat.press("teen")
    assert chat.last.risk == "none"


def test_repeated_medium_signals_raise_the_level(engine):
    chat = Chat(engine)
    chat.send("hi")
    chat.press("teen")
    medium = [m for m in ("我好绝望", "真的撑不下去了", "感觉好绝望，撑不下去")
              if engine.screener.assess(m).level.label == "medium"]
    if len(medium) < 1:
        pytest.skip("no medium-level phrase in the shipped lexicon among the samples")
    levels = []
    for _ in range(3):
        chat.send(medium[0])
        levels.append(chat.last.risk)
    assert levels[:2] == ["medium", "medium"] and levels[2] == "high"
    assert chat.where == "crisis.alert"
