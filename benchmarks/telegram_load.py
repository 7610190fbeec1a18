"""Load benchmark of the Telegram channel (issue 5 figures). Run:

    python benchmarks/telegram_load.py [--chats 50] [--updates 1500] [--rate 50]

Both bots talk to the same in-process fake Bot API server (tests/fake_bot_api.py) over real
HTTP, through python-telegram-bot's own stack, in the same run:
- a bare PTB echo bot (one handler that sends the text back), and
- Qingxin (engine, screening, SQLite storage, one commit per update before its reply).
1. Throughput: UPDATES updates from CHATS chats queued at once; updates/s until every one is
   answered, and whether any reply was lost or duplicated.
2. Latency at a steady RATE updates/s: p50/p99 from an update being offered to its reply.
The overall 30 messages/s limiter is off for both (it models Telegram's servers, not ours).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from telegram import Update
from telegram.ext import Application, MessageHandler, filters

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_app  # noqa: E402
from bot.channels.telegram import build_application  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from tests.fake_bot_api import TOKEN, FakeBotApi  # noqa: E402

# commands that each get exactly one reply, so replies can be matched to updates
SCRIPT = ["/help", "/lang zh", "/menu", "/lang en", "/start"]


async def echo_application(base: str) -> Application:
    application = (Application.builder().token(TOKEN).base_url(f"{base}/bot")
                   .concurrent_updates(True).build())

    async def echo(update: Update, _context: object) -> None:
        await update.effective_chat.send_message(update.effective_message.text or "?")

    application.add_handler(MessageHandler(filters.ALL, echo))
    return application


async def run(kind: str, chats: int, updates: int, rate: float) -> dict:
    api = FakeBotApi()
    base = await api.start()
    tmp = tempfile.TemporaryDirectory()
    app = channel = None
    if kind == "echo":
        application = await echo_application(base)
    else:
        app = build_app(load_settings({"QINGXIN_DATA_DIR": tmp.name}))
        application, channel = build_application(app, TOKEN, base, overall_rate=0)
    await application.initialize()
    if channel is not None:
        await channel.post_init(application)
    await application.start()
    await application.updater.start_polling(poll_interval=0.0, timeout=1)
    # warm up every chat once (conversations exist, connections are open)
    for chat in range(chats):
        api.message(10_000 + chat, "/start")
    await wait_replies(api, chats, 30)
    api.sent.clear()

    # 1. throughput
    started = time.perf_counter()
    for i in range(updates):
        api.message(10_000 + i % chats, SCRIPT[(i // chats) % len(SCRIPT)])
    await wait_replies(api, updates, 120)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)
    replies = len(api.sent)
    per_chat = [len(api.to(10_000 + c)) for c in range(chats)]
    api.sent.clear()

    # 2. latency at a steady rate: one update every 1/rate seconds, round robin over chats
    offered: dict[int, list[float]] = {}
    count = int(rate * 10)
    started = time.perf_counter()
    for i in range(count):
        target = started + i / rate
        await asyncio.sleep(max(0.0, target - time.perf_counter()))
        chat = 10_000 + i % chats
        offered.setdefault(chat, []).append(time.monotonic())
        api.message(chat, SCRIPT[(i // chats) % len(SCRIPT)])
    await wait_replies(api, count, 60)
    samples = []
    for chat, times in offered.items():
        answers = [s.at for s in api.to(chat)]
        samples.extend((answer - sent) * 1000 for sent, answer in zip(times, answers,
                                                                      strict=False))
    samples.sort()
    await application.updater.stop()
    await application.stop()
    if channel is not None:
        await channel.post_stop(application)
    await application.shutdown()
    if app is not None:
        await app.close()
    await api.stop()
    tmp.cleanup()
    return {"updates": updates, "replies": replies, "seconds": elapsed,
            "updates_per_s": updates / elapsed,
            "lost_or_duplicated": sum(abs(n - updates // chats) for n in per_chat),
            "latency_rate_per_s": rate, "latency_samples": len(samples),
            "p50_ms": samples[len(samples) // 2], "p99_ms": samples[int(len(samples) * .99) - 1]}


async def wait_replies(api: FakeBotApi, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(api.sent) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(api.sent)} of {count} replies")
        await asyncio.sleep(0.01)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--updates", type=int, default=1500)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    results = {kind: await run(kind, args.chats, args.updates, args.rate)
               for kind in ("echo", "qingxin")}
    print(json.dumps(results, indent=2))
    echo, ours = results["echo"], results["qingxin"]
    print(f"\nbare PTB echo bot: {echo['updates_per_s']:.0f} updates/s; "
          f"Qingxin: {ours['updates_per_s']:.0f} updates/s "
          f"({ours['updates_per_s'] / echo['updates_per_s']:.2f}x), "
          f"lost or duplicated: {ours['lost_or_duplicated']}")
    print(f"at {args.rate:.0f} updates/s, update to reply: echo p50 {echo['p50_ms']:.1f} ms "
          f"p99 {echo['p99_ms']:.1f} ms; Qingxin p50 {ours['p50_ms']:.1f} ms "
          f"p99 {ours['p99_ms']:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
