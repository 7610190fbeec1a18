"""The Telegram channel end to end: the real python-telegram-bot HTTP stack against an
in-process fake Bot API server, with a real SQLite database."""

import asyncio
import contextlib
import json

import httpx
import pytest
from telegram import Update

from bot.app import build_app
from bot.channels.telegram import build_application
from bot.settings import load_settings
from storage import operations
from tests.fake_bot_api import TOKEN, Failure, FakeBotApi

# long, distinctive ids: a short one (1001) can turn up by chance inside a timestamp or a hash
TEEN, TEEN2, COUNSELOR = 7_700_314_159, 7_700_271_828, 6_600_161_803


@contextlib.asynccontextmanager
async def running(tmp_path, **options):
    """Qingxin polling a fresh fake Bot API server, with its own data folder."""
    api = FakeBotApi()
    base = await api.start()
    app = build_app(load_settings({"QINGXIN_DATA_DIR": str(tmp_path)}))
    application, channel = build_application(app, TOKEN, base, **options)
    await application.initialize()
    await channel.post_init(application)
    await application.start()
    await application.updater.start_polling(poll_interval=0.0, timeout=1,
                                            allowed_updates=Update.ALL_TYPES)
    try:
        yield api, app
    finally:
        await application.updater.stop()
        await application.stop()
        await channel.post_stop(application)
        await application.shutdown()
        await app.close()
        await api.stop()


@pytest.fixture
async def telegram(tmp_path):
    async with running(tmp_path) as both:
        yield both


def buttons(sent):
    return [b["callback_data"] for b in sent.buttons]


async def test_commands_are_registered_in_both_languages(telegram):
    api, _ = telegram
    await asyncio.sleep(0.1)
    assert {c["command"] for c in api.commands["zh"]} >= {"start", "menu", "help", "human",
                                                          "lang", "forget"}
    assert "" in api.commands  # the default (English) list


async def test_teen_triage_through_menus(telegram):
    api, _ = telegram
    api.message(TEEN, "/start", lang="zh-hans")
    [welcome] = await api.wait_for(TEEN)
    assert "青心" in welcome.text and "main.welcome:teen" in buttons(welcome)
    api.press(TEEN, "main.welcome:teen", welcome.message_id)
    menu = (await api.wait_for(TEEN, 2))[-1]
    assert any(b.startswith("teen.menu:") for b in buttons(menu))
    assert len(api.answered) == 1
    first_topic = buttons(menu)[0]
    api.press(TEEN, first_topic, menu.message_id)
    page = (await api.wait_for(TEEN, 3))[-1]
    assert page.text and page.buttons


async def test_crisis_reaches_the_counselor_and_they_talk_anonymously(telegram):
    api, app = telegram
    code, _ = operations.invite(app.repository.engine, "psych", "小林", app.clock())
    api.message(COUNSELOR, f"/counselor {code}")
    await api.wait_for(COUNSELOR, 1)
    api.message(COUNSELOR, "/duty on")
    await api.wait_for(COUNSELOR, 2)
    api.message(TEEN, "我不想活了")
    crisis = await api.wait_for(TEEN, 1)
    assert "12355" in crisis[0].text and "110" in crisis[0].text
    notification = (await api.wait_for(COUNSELOR, 3, timeout=2.0))[-1]
    assert "case:claim:1" in buttons(notification)
    assert notification.at - crisis[0].at < 1.0
    assert "secret_user" not in notification.text and str(TEEN) not in notification.text
    api.press(COUNSELOR, "case:claim:1", notification.message_id)
    joined = (await api.wait_for(TEEN, 3))[-1]
    assert "小林" in joined.text
    api.message(TEEN, "我在天台上")
    relayed = (await api.wait_for(COUNSELOR, 5))[-1]
    assert relayed.text.startswith("[#1]")
    api.message(COUNSELOR, "我在，你先离开边缘好吗")
    answer = (await api.wait_for(TEEN, 4))[-1]
    assert answer.text == "小林：我在，你先离开边缘好吗"


async def test_rate_limit_429_is_retried_without_loss_or_duplicates(telegram):
    api, _ = telegram
    api.failures.append(Failure("sendMessage", 429, times=1, retry_after=1))
    api.message(TEEN, "hello")
    [welcome] = await api.wait_for(TEEN, 1, timeout=8)
    await asyncio.sleep(0.3)
    assert len(api.to(TEEN)) == 1 and "Qingxin" in welcome.text


async def test_server_errors_are_retried(telegram):
    api, _ = telegram
    api.failures.append(Failure("sendMessage", 502, times=1))
    api.message(TEEN, "hello")
    await api.wait_for(TEEN, 1, timeout=8)


async def test_a_user_who_blocked_the_bot_is_marked_and_their_counselor_told(telegram):
    api, app = telegram
    code, _ = operations.invite(app.repository.engine, "psych", "晓", app.clock())
    api.message(COUNSELOR, f"/counselor {code}")
    api.message(COUNSELOR, "/duty on")
    await api.wait_for(COUNSELOR, 2)
    api.message(TEEN, "/human")
    await api.wait_for(TEEN, 2)
    await api.wait_for(COUNSELOR, 3)
    api.press(COUNSELOR, "case:claim:1")
    await api.wait_for(TEEN, 3)
    api.failures.append(Failure("sendMessage", 403, times=5, chat_id=TEEN))
    api.message(COUNSELOR, "你还好吗？")
    told = await api.wait_for(COUNSELOR, 5, timeout=5)
    assert any("屏蔽" in s.text or "blocked" in s.text for s in told)


async def test_non_text_gets_a_kind_reply_and_nothing_is_stored(telegram):
    api, app = telegram
    api.message(TEEN, None, sticker={"file_id": "x", "file_unique_id": "y", "width": 1,
                                     "height": 1, "is_animated": False, "is_video": False,
                                     "type": "regular"})
    api.message(TEEN, None, location={"latitude": 39.9, "longitude": 116.4})
    api.message(TEEN, None, contact={"phone_number": "+8613812345678", "first_name": "Mum"})
    sent = await api.wait_for(TEEN, 6)
    notes = [s for s in sent if "只能读文字" in s.text or "can only read text" in s.text]
    assert len(notes) == 3
    with app.repository.engine.begin() as connection:
        dump = "\n".join(str(r) for r in connection.exec_driver_sql(
            "SELECT body FROM messages").all())
    assert "39.9" not in dump and "13812345678" not in dump and "Mum" not in dump


async def test_names_and_usernames_are_never_stored(telegram):
    api, app = telegram
    api.message(TEEN, "hi")
    await api.wait_for(TEEN, 1)
    with app.repository.engine.begin() as connection:
        tables = [r[0] for r in connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type='table'")]
        dump = "\n".join(str(row) for table in tables
                         for row in connection.exec_driver_sql(f"SELECT * FROM {table}"))
    for leaked in ("secret_user", "Secret", "Name", str(TEEN)):
        assert leaked not in dump


async def test_bad_input_never_crashes(telegram):
    api, _ = telegram
    api.raw({"poll": {"id": "p", "question": "?", "options": [], "total_voter_count": 0,
                      "is_closed": False, "is_anonymous": True, "type": "regular",
                      "allows_multiple_answers": False}})
    api.raw({"channel_post": {"message_id": 1, "date": 0, "chat": {"id": -100, "type": "channel"},
                              "text": "x"}})
    api.message(TEEN, "😀" * 1000 + "字" * 2096)
    api.press(TEEN, "forged:payload:!!")
    api.press(TEEN, "x" * 64)
    sent = await api.wait_for(TEEN, 3, timeout=5)
    assert all(s.text for s in sent)


async def test_one_button_pressed_twenty_times_acts_once(telegram):
    api, _ = telegram
    api.message(TEEN2, "hi")
    [welcome] = await api.wait_for(TEEN2, 1)
    for _ in range(20):
        api.press(TEEN2, "main.welcome:parent", welcome.message_id)
    await api.wait_for(TEEN2, 2)
    await asyncio.sleep(0.5)
    assert len(api.to(TEEN2)) == 2 and len(api.answered) == 20


async def test_edited_messages_are_screened_again(telegram):
    api, _ = telegram
    api.message(TEEN, "hi")
    await api.wait_for(TEEN, 1)
    api.edited(TEEN, "hello again")  # harmless edit: no reply
    api.edited(TEEN, "actually I want to kill myself")
    crisis = (await api.wait_for(TEEN, 2))[-2]
    assert "12355" in crisis.text or "988" not in crisis.text
    assert len(api.to(TEEN)) in (2, 3)


async def test_webhook_rejects_a_wrong_secret(tmp_path):
    api = FakeBotApi()
    base = await api.start()
    app = build_app(load_settings({"QINGXIN_DATA_DIR": str(tmp_path)}))
    application, channel = build_application(app, TOKEN, base)
    await application.initialize()
    await application.start()
    port = 18000 + (abs(hash(str(tmp_path))) % 1000)
    await application.updater.start_webhook(listen="127.0.0.1", port=port, url_path="hook",
                                            secret_token="right-secret",
                                            webhook_url=f"http://127.0.0.1:{port}/hook")
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0,
                                          "chat": {"id": TEEN, "type": "private"},
                                          "from": {"id": TEEN, "is_bot": False,
                                                   "first_name": "x"}, "text": "hi"}}
    try:
        async with httpx.AsyncClient() as client:
            wrong = await client.post(f"http://127.0.0.1:{port}/hook", content=json.dumps(update),
                                      headers={"X-Telegram-Bot-Api-Secret-Token": "wrong",
                                               "Content-Type": "application/json"})
            assert wrong.status_code == 403
            right = await client.post(f"http://127.0.0.1:{port}/hook",
                                      content=json.dumps(update),
                                      headers={"X-Telegram-Bot-Api-Secret-Token":
                                               "right-secret",
                                               "Content-Type": "application/json"})
            assert right.status_code == 200
        await api.wait_for(TEEN, 1)
        assert api.webhook.endswith("/hook")
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
        await app.close()
        await api.stop()


async def test_a_rejected_or_missing_token_is_one_clear_line(tmp_path):
    import os
    import sys

    api = FakeBotApi()
    base = await api.start()
    try:
        for token, expected in (("999:wrong", "rejected the token"), ("", "set QINGXIN_TELEGRAM")):
            env = {**os.environ, "QINGXIN_DATA_DIR": str(tmp_path),
                   "QINGXIN_TELEGRAM_TOKEN": token, "QINGXIN_TELEGRAM_BASE_URL": base}
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            _out, err = await asyncio.wait_for(process.communicate(), 60)
            lines = err.decode().strip().splitlines()
            assert process.returncode == 2 and len(lines) == 1 and expected in lines[0]
            assert "Traceback" not in err.decode() and (not token or token not in err.decode())
    finally:
        await api.stop()


async def test_counselors_group_chat_gets_notifications_and_its_claim_buttons_work(tmp_path):
    team = -100500
    async with running(tmp_path, team_chat=team) as (api, app):
        code, _ = operations.invite(app.repository.engine, "psych", "阿青", app.clock())
        api.message(COUNSELOR, f"/counselor {code}")
        api.message(COUNSELOR, "/duty on")
        await api.wait_for(COUNSELOR, 2)
        api.message(TEEN, "I want to kill myself")
        [notice] = await api.wait_for(team, 1)
        assert buttons(notice) == ["case:claim:1"]
        api.raw({"callback_query": {
            "id": "team1", "from": {"id": COUNSELOR, "is_bot": False, "first_name": "x"},
            "chat_instance": "ci", "data": "case:claim:1",
            "message": {"message_id": 1, "date": 0, "chat": {"id": team, "type": "supergroup"},
                        "text": "notice"}}})
        claimed = await api.wait_for(COUNSELOR, 4)
        assert any("#1" in s.text and ("你接了" in s.text or "You have case" in s.text)
                   for s in claimed)
        assert len(api.to(team)) == 1
