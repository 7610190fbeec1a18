"""A whole escalation through `qingxin chat --jsonl`: a teen in crisis, a counselor signs in,
claims, they talk through the bot without the counselor learning who the teen is, the case is
closed; and the operators' view of it."""

import json
import subprocess
import sys

from tests.test_console import QINGXIN, jsonl, run


def invite(env, role="psych", alias="小林") -> str:
    done = subprocess.run([*QINGXIN, "counselors", "invite", "--role", role, "--alias", alias],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def lines_for(out: list[dict], user) -> list[dict]:
    return [line for line in out if line["user"] == user]


def test_whole_escalation_in_one_script(env):
    code = invite(env)
    done = run(env, "chat", "--jsonl", stdin=jsonl(
        {"user": "c1", "text": f"/counselor {code}"},
        {"user": "c1", "text": "/duty on"},
        {"user": "teen", "text": "我不想活了，今晚就想结束"},
        {"user": "c1", "button": "case:claim:1"},
        {"user": "teen", "text": "我好害怕，我的电话是13812345678"},
        {"user": "c1", "text": "我在这里陪着你。"},
        {"user": "c1", "text": "/note 需要回访"},
        {"user": "c1", "text": "/close"},
        {"user": "c1", "button": "case:outcome:1:supported"},
        {"user": "c1", "button": "case:followup:1:none"},
    ))
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    teen, counselor = lines_for(out, "teen"), lines_for(out, "c1")
    assert "小林" in counselor[0]["text"]  # welcome with the alias
    notification = next(line for line in counselor
                        if [b["payload"] for b in line["buttons"]] == ["case:claim:1"])
    assert "suicide" in notification["text"] and "high" in notification["text"]
    assert teen[0]["state"] == "crisis.alert" and teen[0]["risk"] in ("high", "imminent")
    assert any("小林" in line["text"] for line in teen)  # the counselor joined, by alias
    relayed = [line["text"] for line in counselor if line["text"].startswith("[#1]")]
    assert relayed == ["[#1] 我好害怕，我的电话是13812345678"]
    assert any(line["text"] == "小林：我在这里陪着你。" for line in teen)
    assert not any("teen" in line["text"] for line in counselor)  # never the user id
    assert any("已结案" in line["text"] or "closed" in line["text"] for line in counselor)

    shown = subprocess.run([*QINGXIN, "cases", "show", "1", "--json"], env=env,
                           capture_output=True, text=True, timeout=60)
    case = json.loads(shown.stdout)
    assert case["state"] == "closed" and case["outcome"] == "supported"
    assert [e["trigger"] for e in case["events"]] == ["claim", "resolve", "close"]
    assert case["notes"] == 1 and case["counselor"] == "小林"


def test_counselor_commands_from_anyone_else_reveal_nothing(env):
    done = run(env, "chat", "--jsonl", stdin=jsonl(
        {"user": "x", "text": "hi"},
        {"user": "x", "text": "/duty on"},
        {"user": "x", "text": "/dance"},
        {"user": "x", "text": "/counselor not-a-code"},
        {"user": "x", "text": "/cases"},
    ))
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    replies = [line["text"] for line in out[1:]]
    assert len(set(replies)) == 2  # the unknown-command reply and the menu, each time the same
    assert all(r == replies[0] for r in replies[::2])


def test_a_used_code_does_not_work_twice(env):
    code = invite(env)
    done = run(env, "chat", "--jsonl", stdin=jsonl(
        {"user": "a", "text": f"/counselor {code}"},
        {"user": "b", "text": f"/counselor {code}"},
    ))
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert "小林" in lines_for(out, "a")[0]["text"]
    assert "小林" not in lines_for(out, "b")[0]["text"]


def test_nobody_on_duty_tells_the_teen_at_once_and_a_new_counselor_gets_the_case(env):
    code = invite(env)
    first = run(env, "chat", "--jsonl", stdin=jsonl({"user": "t", "text": "/human"}))
    texts = [json.loads(line)["text"] for line in first.stdout.decode().splitlines()]
    assert any("没有值班" in t or "No counselor is on duty" in t for t in texts)
    second = run(env, "chat", "--jsonl", stdin=jsonl(
        {"user": "c", "text": f"/counselor {code}"}, {"user": "c", "text": "/duty on"}))
    out = [json.loads(line) for line in second.stdout.decode().splitlines()]
    assert any(b["payload"] == "case:claim:1" for line in out for b in line["buttons"])


def test_cases_list_json(env):
    run(env, "chat", "--jsonl", stdin=jsonl({"user": "t", "text": "I want to kill myself"}))
    done = subprocess.run([*QINGXIN, "cases", "list", "--json"], env=env, capture_output=True,
                          text=True, timeout=60)
    [case] = json.loads(done.stdout)
    assert case["state"] == "queued" and case["risk"] in ("high", "imminent")
    assert sys.executable  # the CLI ran in this interpreter
