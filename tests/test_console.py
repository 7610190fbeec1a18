"""End to end: `qingxin chat --jsonl` and `qingxin flows ...` as a user runs them, in a subprocess
on a real SQLite file."""

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import FLOWS_DIR

QINGXIN = [sys.executable, "-m", "bot.cli"]


def run(env, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([*QINGXIN, *args], input=stdin.encode(), env=env, capture_output=True,
                          timeout=60)


def jsonl(*lines) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False))
                   + "\n" for line in lines)


def replies(done: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


def test_interleaved_users_each_get_their_own_conversation(env):
    done = run(env, "chat", "--jsonl", stdin=jsonl(
        {"user": 1, "text": "hello"},
        {"user": "b", "text": "你好"},
        {"user": 1, "button": "main.welcome:teen"},
        {"user": "b", "button": "main.welcome:parent"},
        {"user": 1, "text": "/help"},
    ))
    assert done.returncode == 0, done.stderr
    out = replies(done)
    assert [(r["user"], r["state"]) for r in out] == [
        (1, "main.welcome"), ("b", "main.welcome"), (1, "teen.menu"), ("b", "parent.menu"),
        (1, "system.help")]
    assert out[0]["text"].startswith("Hi, this is Qingxin")
    assert out[1]["text"].startswith("你好，这里是青心")
    assert out[2]["buttons"] and set(out[2]["buttons"][0]) == {"label", "payload"}


def test_malformed_lines_are_reported_with_their_number_and_the_stream_goes_on(env):
    done = run(env, "chat", "--jsonl", stdin=jsonl(
        "not json", {"user": 1, "text": "hi"}, "[1, 2]", {"text": "no user"},
        {"user": 1, "text": "a", "button": "b"}, {"user": True, "text": "x"},
        {"user": 1, "text": 5}, "", {"user": 1, "text": "/menu"}))
    assert done.returncode == 0
    errors = done.stderr.decode().splitlines()
    assert [e.split(":")[1].strip() for e in errors] == [
        "stdin line 1", "stdin line 3", "stdin line 4", "stdin line 5", "stdin line 6",
        "stdin line 7"]
    assert [r["state"] for r in replies(done)] == ["main.welcome", "main.welcome"]


def test_bad_bytes_and_control_characters_do_not_stop_the_stream(env):
    raw = b'{"user": 1, "text": "\xff\xfe"}\n{"user": 1, "text": "\\u0000\\u0007"}\n'
    done = subprocess.run([*QINGXIN, "chat", "--jsonl"], input=raw, env=env,
                          capture_output=True, timeout=60)
    assert done.returncode == 0 and len(replies(done)) >= 2


def test_restart_continues_the_conversation(env):
    first = run(env, "chat", "--jsonl", stdin=jsonl({"user": 7, "text": "hi"},
                                                    {"user": 7, "button": "main.welcome:parent"}))
    assert replies(first)[-1]["state"] == "parent.menu"
    again = run(env, "chat", "--jsonl", stdin=jsonl({"user": 7, "text": " "}))
    assert replies(again) == [replies(first)[-1]]


def test_stored_data_holds_no_user_id(env, tmp_path):
    run(env, "chat", "--jsonl", stdin=jsonl({"user": "alice_smith_1999", "text": "hi"}))
    database = (tmp_path / "data" / "qingxin.db").read_bytes()
    assert b"alice_smith_1999" not in database
    secret = (tmp_path / "data" / "secret.key")
    assert secret.stat().st_mode & 0o077 == 0


def test_unreachable_database_is_one_line_naming_the_setting(env):
    env["QINGXIN_DATABASE_URL"] = "postgresql+psycopg://x@127.0.0.1:1/none?connect_timeout=2"
    done = run(env, "chat", "--jsonl", stdin=jsonl({"user": 1, "text": "hi"}))
    assert done.returncode == 2
    [line] = done.stderr.decode().splitlines()
    assert "QINGXIN_DATABASE_URL" in line


def test_broken_flow_file_stops_the_chat_with_its_line(env, tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    for path in FLOWS_DIR.glob("*.yaml"):
        (flows / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (flows / "main.yaml").write_text("flow: main\nstart: welcome\nstates:\n  welcome: [\n")
    env["QINGXIN_FLOWS_DIR"] = str(flows)
    done = run(env, "chat", "--jsonl", stdin=jsonl({"user": 1, "text": "hi"}))
    assert done.returncode == 1
    assert done.stderr.decode().startswith(f"{flows / 'main.yaml'}:5:1: invalid YAML")


def test_flows_validate(env, tmp_path):
    done = run(env, "flows", "validate", str(FLOWS_DIR))
    assert done.returncode == 0 and done.stdout.startswith(b"ok:")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.yaml").write_text("flow: x\nstart: a\nstates:\n  a:\n    say: {zh: 甲}\n")
    done = run(env, "flows", "validate", str(bad))
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert f"{bad / 'x.yaml'}:5:5: missing translation 'en'" in lines


def test_flows_graph_mermaid(env, tmp_path):
    target = tmp_path / "main.mmd"
    done = run(env, "flows", "graph", "main", "-o", str(target))
    assert done.returncode == 0, done.stderr
    text = target.read_text(encoding="utf-8")
    assert text.startswith("stateDiagram-v2") and "welcome --> teen__menu" in text


def test_flows_graph_svg_needs_graphviz(env, tmp_path):
    target = tmp_path / "main.svg"
    done = run(env, "flows", "graph", "main", "-o", str(target))
    if done.returncode == 2:
        assert b"apt-get install graphviz" in done.stderr
    else:
        assert done.returncode == 0 and target.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_unknown_flow_for_graph(env, tmp_path):
    done = run(env, "flows", "graph", "nope", "-o", str(tmp_path / "x.mmd"))
    assert done.returncode == 1 and b"no flow 'nope'" in done.stderr


def test_interactive_chat_numbers_and_labels(env):
    done = run(env, "chat", stdin="2\n\n/lang en\n1\n")
    text = done.stdout.decode()
    assert done.returncode == 0
    assert "1. 我是学生" in text and "家长" in text
    assert "OK, I'll talk with you in English" in text


def test_first_reply_path_works_on_a_fresh_machine_layout(env, tmp_path):
    assert not (tmp_path / "data").exists()
    done = run(env, "chat", "--jsonl", stdin=jsonl({"user": 1, "text": "hi"}))
    assert done.returncode == 0 and (tmp_path / "data" / "qingxin.db").exists()
    assert Path(tmp_path / "data" / "secret.key").exists()
