"""Conversations with the pure engine: a message in, the replies and the records out."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.engine import Engine
from bot.core.events import Direction, EraseConversation, LogMessage, SaveConversation
from tests.conftest import Chat


@pytest.fixture(scope="module")
def engine(flow_set, screener):
    """The flows and screening without the knowledge base: free text meets the flows' own
    fallback here (tests/test_kb.py covers free text answered by the knowledge base)."""
    return Engine(flow_set, screener)


def test_first_message_gets_the_welcome_and_role_choice(chat):
    [reply] = chat.send("你好")
    assert reply.state == "main.welcome"
    assert "青心" in reply.text
    assert [b.payload for b in reply.buttons][:2] == ["main.welcome:teen", "main.welcome:parent"]


def test_choosing_a_role_stores_it_and_opens_that_menu(chat):
    chat.send("hi")
    [reply] = chat.press("teen")
    assert reply.state == "teen.menu"
    assert chat.conversation.slots["role"] == "teen"
    chat.send("/start")
    chat.press("parent")
    assert chat.where == "parent.menu" and chat.conversation.slots["role"] == "parent"


def test_records_are_the_new_state_then_the_messages_in_order(chat):
    chat.send("hello")
    result = chat.last
    save, inbound, *outbound = result.records
    assert isinstance(save, SaveConversation) and save.conversation.where == "main.welcome"
    assert isinstance(inbound, LogMessage) and inbound.direction is Direction.IN
    assert inbound.body == "hello" and inbound.kind == "text"
    assert [r.body for r in outbound] == [m.text for m in result.outbound]


def test_answers_in_the_language_the_user_writes(chat):
    [reply] = chat.send("Hello there")
    assert "Hi, this is Qingxin" in reply.text
    assert reply.buttons[0].label.startswith("I'm a student")
    first, welcome = chat.send("我想聊聊")
    assert first.text.startswith("谢谢你告诉我") and welcome.text.startswith("你好，这里是青心")
    assert chat.conversation.lang == "zh"


def test_traditional_chinese_is_read_as_chinese(chat):
    chat.send("Hello")
    chat.send("我覺得很難過，沒有人聽我說話")
    assert chat.conversation.lang == "zh"
    assert "谢谢你告诉我" in chat.last.outbound[0].text


def test_language_hint_sets_the_first_language(engine):
    chat = Chat(engine, hint="en-GB")
    [reply] = chat.send("👋")
    assert reply.text.startswith("Hi, this is Qingxin")


def test_lang_command_locks_the_language(chat):
    chat.send("你好")
    [reply] = chat.send("/lang en")
    assert reply.state == "system.lang_en" and "English" in reply.text
    chat.send("我还是写中文")
    assert chat.conversation.lang == "en" and chat.conversation.lang_locked
    chat.send("/lang")
    [reply] = chat.press("zh")
    assert chat.conversation.lang == "zh"
    chat.press("back")
    assert chat.where == "main.welcome"


def test_lang_command_returns_to_where_the_user_was(chat):
    chat.send("hi")
    chat.press("teen")
    chat.send("/lang zh")
    [reply] = chat.press("back")
    assert reply.state == "teen.menu" and chat.conversation.lang_locked


def test_global_commands_work_in_every_state(engine, flow_set):
    for flow, state in flow_set.all_states():
        chat = Chat(engine)
        chat.send("hi")
        chat.conversation = replace(chat.conversation, flow=flow, state=state)
        for command, where in [("/help", "system.help"), ("/human", "system.human"),
                               ("/forget", "system.forget_confirm"), ("/lang", "system.lang"),
                               ("/start", "main.welcome")]:
            chat.conversation = replace(chat.conversation, flow=flow, state=state)
            chat.send(command)
            assert chat.where == where, (flow, state, command)
        chat.conversation = replace(chat.conversation, flow=flow, state=state)
        chat.send("/menu")
        assert chat.where == "main.welcome"  # no role chosen yet


def test_menu_command_goes_to_the_role_menu(chat):
    chat.send("hi")
    chat.press("parent")
    chat.send("/help")
    chat.send("/menu")
    assert chat.where == "parent.menu"


def test_help_back_returns_to_where_the_user_was(chat):
    chat.send("hi")
    chat.press("about")
    chat.send("/help")
    chat.press("back")
    assert chat.where == "main.about"


def test_human_records_the_request_and_gives_real_contacts(chat):
    chat.send("hi")
    reply, waiting = chat.send("/human")
    assert "12355" in reply.text and "110" in reply.text and "120" in reply.text
    assert "human_requested_at" in chat.conversation.slots


def test_forget_asks_first_then_erases_everything(chat):
    chat.send("hi")
    chat.press("teen")
    chat.send("/forget")
    [reply] = chat.press("cancel")
    assert reply.state == "teen.menu" and chat.conversation is not None
    chat.send("/forget")
    [reply] = chat.press("confirm")
    assert chat.last.records == (EraseConversation(key="user-1"),)
    assert chat.conversation is None
    [reply] = chat.send("hello again")
    assert reply.state == "main.welcome" and "role" not in chat.conversation.slots


def test_empty_or_blank_message_reshows_the_prompt(chat):
    chat.send("hi")
    [menu] = chat.press("teen")
    for blank in ("", "   ", "\u200b", "\x00\x07"):
        [reply] = chat.send(blank)
        assert reply.text == menu.text and reply.buttons == menu.buttons


def test_unknown_or_forged_button_reshows_the_current_menu(chat):
    chat.send("hi")
    [menu] = chat.press("teen")
    for payload in ("teen.menu:nope", "main.welcome:teen", "garbage", "", ":" * 300):
        *_, reply = chat.send(button=payload)
        assert reply.state == "teen.menu" and reply.buttons == menu.buttons
        assert "之前的消息" in chat.last.outbound[0].text or "earlier" in chat.last.outbound[0].text


def test_typing_a_button_label_presses_it(chat):
    chat.send("你好")
    [reply] = chat.send("我是家长")
    assert reply.state == "parent.menu"


def test_unknown_command_explains_the_commands(chat):
    chat.send("hi")
    first, again = chat.send("/dance")
    assert "/help" in first.text and again.state == "main.welcome"


def test_free_text_in_a_menu_is_never_a_dead_end(chat):
    chat.send("hi")
    chat.press("teen")
    first, menu = chat.send("nobody listens to me and I don't know what to do")
    assert "/human" in first.text and "110" in first.text and "12355" in first.text
    assert menu.state == "teen.menu" and menu.buttons


def test_a_state_removed_from_the_flows_falls_back_to_the_welcome(chat):
    chat.send("hi")
    chat.conversation = replace(chat.conversation, flow="teen", state="gone_state")
    [reply] = chat.send("")
    assert reply.state == "main.welcome"


def test_every_reachable_state_renders_in_both_languages(engine, flow_set):
    for flow, state in flow_set.all_states():
        for lang in ("zh", "en"):
            chat = Chat(engine)
            chat.send("hi")
            chat.conversation = replace(chat.conversation, flow=flow, state=state, lang=lang,
                                        lang_locked=True)
            [reply] = chat.send("")
            assert reply.text.strip() and reply.state == f"{flow}.{state}"
            assert all(b.label.strip() for b in reply.buttons)


ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=300)  # surrogates too


@settings(max_examples=300, deadline=None)
@given(state_index=st.integers(min_value=0), text=ANY_TEXT, as_button=st.booleans())
def test_any_input_in_any_state_never_raises_and_always_answers(engine, flow_set, state_index,
                                                                 text, as_button):
    states = flow_set.all_states()
    flow, state = states[state_index % len(states)]
    chat = Chat(engine)
    chat.send("hi")
    chat.conversation = replace(chat.conversation, flow=flow, state=state)
    replies = chat.send(button=text) if as_button else chat.send(text)
    assert replies and all(r.text for r in replies)
    for record in chat.last.records:
        if isinstance(record, LogMessage):
            record.body.encode("utf-8")  # storable: no lone surrogates
            assert "\x00" not in record.body


def test_huge_message_is_handled_and_bounded(chat):
    chat.send("hi")
    replies = chat.send("救" * 10_000 + "🙂" * 500)
    assert replies
    logged = [r for r in chat.last.records if isinstance(r, LogMessage)][0]
    assert len(logged.body) <= 16_000
