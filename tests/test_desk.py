"""The counseling desk end to end in-process, on SQLite and PostgreSQL: concurrent claims,
service levels, follow-up, going off duty, transfers, and nothing lost across a restart."""

import asyncio
from datetime import timedelta

import pytest

from bot.core.events import Inbound
from storage import operations
from storage.database import open_database
from storage.repository import Repository
from tests.conftest import T0


class Desk:
    """Users talking to one database through the real repository, on a clock we move."""

    def __init__(self, url, engine):
        self.url, self.engine = url, engine
        self.repo = Repository(open_database(url))
        self.now = T0

    def tick(self, **delta):
        self.now += timedelta(**delta)

    async def send(self, user, text=None, button=None, repo=None):
        self.tick(seconds=1)
        event = Inbound(channel="test", key=user, at=self.now, text=text, button=button)
        [result] = await (repo or self.repo).process([event], self.engine.step)
        assert result is not None
        return result.outbound

    async def counselor(self, user, role="psych", alias=None):
        code, _ = operations.invite(self.repo.engine, role, alias or user, self.now)
        [welcome] = await self.send(user, f"/counselor {code}")
        assert (alias or user) in welcome.text
        await self.send(user, "/duty on")

    async def deliveries(self):
        """Everything in the outbox, by recipient, marked sent."""
        pending = await self.repo.lease_outbox(self.now)
        await self.repo.mark_sent([p.id for p in pending])
        by_key = {}
        for item in pending:
            by_key.setdefault(item.key, []).append(item.message)
        return by_key

    async def timers(self):
        return await self.repo.fire_timers(self.now, self.engine.fire_timer)

    async def case(self, number=1):
        return operations.show_case(self.repo.engine, number, self.now)

    async def close(self):
        await self.repo.close()


@pytest.fixture
async def desk(database_url, engine):
    harness = Desk(database_url, engine)
    yield harness
    await harness.close()


def claim_payloads(messages):
    return [b["payload"] for m in messages for b in m["buttons"]
            if b["payload"].startswith("case:claim:")]


async def test_crisis_reaches_every_on_duty_counselor_of_the_right_role(desk):
    await desk.counselor("p1")
    await desk.counselor("p2")
    await desk.counselor("l1", role="legal")
    await desk.counselor("s1", role="supervisor")
    await desk.deliveries()
    replies = await desk.send("teen", "我不想活了")
    assert "12355" in replies[0].text
    got = await desk.deliveries()
    assert set(got) == {"p1", "p2", "s1"}  # psych and supervisors; not legal
    assert claim_payloads(got["p1"]) == ["case:claim:1"]


async def test_exactly_one_of_many_concurrent_claims_wins(desk):
    names = [f"c{i}" for i in range(6)]
    for name in names:
        await desk.counselor(name)
    await desk.send("teen", "I want to kill myself")
    repos = [Repository(open_database(desk.url)) for _ in names]
    try:
        results = await asyncio.gather(*(desk.send(name, button="case:claim:1", repo=repo)
                                         for name, repo in zip(names, repos, strict=True)))
    finally:
        for repo in repos:
            await repo.close()
    won = [r for r in results if "#1" in r[0].text and ("你接了" in r[0].text or
                                                        "You have case" in r[0].text)]
    assert len(won) == 1
    case = await desk.case()
    assert case["state"] == "active"
    assert [e["trigger"] for e in case["events"]] == ["claim"]


async def test_claim_relay_and_close(desk):
    await desk.counselor("c", alias="小林")
    await desk.send("teen", "我想自杀")
    await desk.send("c", button="case:claim:1")
    got = await desk.deliveries()
    assert any("小林" in m["text"] for m in got["teen"])
    assert await desk.send("teen", "我在学校被打了") == ()
    got = await desk.deliveries()
    assert [m["text"] for m in got["c"]] == ["[#1] 我在学校被打了"]
    await desk.send("c", "我在，慢慢说")
    assert [m["text"] for m in (await desk.deliveries())["teen"]] == ["小林：我在，慢慢说"]
    await desk.send("c", "/close")
    await desk.send("c", button="case:outcome:1:referred_psych")
    await desk.send("c", button="case:followup:1:none")
    assert (await desk.case())["state"] == "closed"


async def test_risk_rising_during_relay_alerts_the_counselor(desk):
    await desk.counselor("c")
    await desk.send("teen", "/human")
    await desk.send("c", button="case:claim:1")
    await desk.deliveries()
    await desk.send("teen", "我已经把药准备好了，今晚就吃了结束一切")
    texts = [m["text"] for m in (await desk.deliveries())["c"]]
    assert any(t.startswith("[#1]") for t in texts)
    assert any("⚠️" in t and "imminent" in t for t in texts)


async def test_unclaimed_case_is_reannounced_and_raised_to_supervisors(desk):
    await desk.counselor("p")
    await desk.counselor("legal", role="legal")
    await desk.send("teen", "I want to kill myself")
    await desk.deliveries()
    await desk.counselor("sup", role="supervisor")  # comes on duty: offered the waiting case
    await desk.deliveries()
    desk.tick(minutes=4)
    assert await desk.timers() == 0  # high: 5 minutes
    desk.tick(minutes=2)
    assert await desk.timers() == 1
    got = await desk.deliveries()
    assert set(got) == {"p", "sup"} and "⏰" in got["sup"][0]["text"]
    desk.tick(minutes=6)
    assert await desk.timers() == 1  # armed again until someone claims


async def test_nobody_on_duty_then_a_counselor_comes_on_duty(desk):
    replies = await desk.send("teen", "/human")
    assert any("没有值班" in r.text or "No counselor" in r.text for r in replies)
    await desk.send("teen", "我想找人说说我爸妈的事")  # a message left for the next counselor
    code, _ = operations.invite(desk.repo.engine, "psych", "晓", desk.now)
    await desk.send("c", f"/counselor {code}")
    offered = await desk.send("c", "/duty on")
    assert claim_payloads([{"buttons": [{"payload": b.payload} for b in m.buttons]}
                           for m in offered]) == ["case:claim:1"]
    claimed = await desk.send("c", button="case:claim:1")
    assert "爸妈" in claimed[0].text  # the left message is shown on claim


async def test_off_duty_mid_case_returns_it_to_the_queue(desk):
    await desk.counselor("a")
    await desk.send("teen", "/human")
    await desk.send("a", button="case:claim:1")
    await desk.send("a", "/duty off")
    case = await desk.case()
    assert case["state"] == "queued" and case["counselor"] is None
    teen_texts = [m["text"] for m in (await desk.deliveries())["teen"]]
    assert any("重新排队" in t or "back in the queue" in t for t in teen_texts)


async def test_transfer_to_a_legal_counselor(desk):
    await desk.counselor("p")
    await desk.counselor("l", role="legal")
    await desk.send("teen", "/human")
    await desk.send("p", button="case:claim:1")
    await desk.deliveries()
    await desk.send("p", "/transfer legal")
    got = await desk.deliveries()
    assert claim_payloads(got["l"]) == ["case:claim:1"] and "p" not in got
    case = await desk.case()
    assert case["skill"] == "legal" and case["state"] == "queued"


async def test_teen_can_end_the_chat(desk):
    await desk.counselor("c")
    await desk.send("teen", "/human")
    await desk.send("c", button="case:claim:1")
    await desk.deliveries()
    await desk.send("teen", "/end")
    assert (await desk.case())["state"] == "resolved"
    assert any("/close" in m["text"] for m in (await desk.deliveries())["c"])


async def test_follow_up_with_consent_and_a_check_in_that_reopens(desk):
    await desk.counselor("c")
    await desk.send("teen", "/human")
    await desk.send("c", button="case:claim:1")
    await desk.send("c", "/close")
    await desk.send("c", button="case:outcome:1:supported")
    await desk.send("c", button="case:followup:1:24h")
    ask = (await desk.deliveries())["teen"][-1]
    assert [b["payload"] for b in ask["buttons"]] == ["checkin:consent:1:yes",
                                                      "checkin:consent:1:no"]
    await desk.send("teen", button="checkin:consent:1:yes")
    desk.tick(hours=23)
    await desk.timers()  # the service-level timer of the claimed case: it does nothing now
    assert "teen" not in await desk.deliveries()
    desk.tick(hours=2)
    assert await desk.timers() == 1
    check_in = (await desk.deliveries())["teen"][-1]
    assert check_in["buttons"][1]["payload"] == "checkin:answer:1:again"
    await desk.send("teen", button="checkin:answer:1:again")
    case = await desk.case()
    assert case["state"] == "queued"
    assert claim_payloads((await desk.deliveries())["c"]) == ["case:claim:1"]


async def test_declined_check_in_closes_the_case(desk):
    await desk.counselor("c")
    await desk.send("teen", "/human")
    await desk.send("c", button="case:claim:1")
    await desk.send("c", "/close")
    await desk.send("c", button="case:outcome:1:supported")
    await desk.send("c", button="case:followup:1:72h")
    await desk.send("teen", button="checkin:consent:1:no")
    assert (await desk.case())["state"] == "closed"


async def test_claims_on_closed_or_foreign_cases_and_by_non_counselors(desk):
    await desk.counselor("a")
    await desk.counselor("b")
    await desk.send("teen", "/human")
    await desk.send("a", button="case:claim:1")
    [lost] = await desk.send("b", button="case:claim:1")
    assert "已经被其他老师接了" in lost.text or "already been taken" in lost.text
    replies = await desk.send("b", "/close 1")
    assert "找不到" in replies[0].text or "does not exist" in replies[0].text
    stranger = await desk.send("x", button="case:claim:1")
    assert stranger[-1].state == "main.welcome"  # a stale button to them, nothing more
    assert (await desk.case())["counselor"] == "a"


async def test_a_restart_loses_nothing(desk, engine):
    await desk.counselor("c")
    await desk.send("teen", "I want to kill myself")
    await desk.repo.close()  # killed before the worker delivered anything
    desk.repo = Repository(open_database(desk.url))
    got = await desk.deliveries()
    assert claim_payloads(got["c"]) == ["case:claim:1"]
    assert await desk.deliveries() == {}  # and only once
    desk.tick(minutes=6)
    assert await desk.timers() == 1  # the service-level timer survived too


async def test_a_revoked_counselor_loses_access_and_can_be_invited_again(desk):
    await desk.counselor("c", alias="甲")
    await desk.send("teen", "/human")
    await desk.send("c", button="case:claim:1")
    counselors = operations.list_counselors(desk.repo.engine)
    assert operations.revoke(desk.repo.engine, counselors[0]["id"], desk.now) == 1
    assert (await desk.case())["state"] == "queued"
    replies = await desk.send("c", "/cases")
    assert "/help" in replies[0].text  # the unknown-command answer: no longer a counselor
    code, _ = operations.invite(desk.repo.engine, "legal", "乙", desk.now)
    [welcome] = await desk.send("c", f"/counselor {code}")
    assert "乙" in welcome.text
    assert operations.list_counselors(desk.repo.engine)[0]["role"] == "legal"
