"""The ``qingxin`` command: one sub-command per task; parse, call, print."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.core.datafile import DataError

EXIT_BAD_DATA = 1
EXIT_UNAVAILABLE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qingxin", description="青心 Qingxin youth counseling "
                                     "triage bot")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug events")
    commands = parser.add_subparsers(dest="command", required=True)

    chat = commands.add_parser("chat", help="chat in the terminal")
    chat.add_argument("--jsonl", action="store_true",
                      help="JSON lines on stdin/stdout for scripts, many users interleaved")
    chat.add_argument("--user", default="local", help="who is chatting (interactive mode)")

    run = commands.add_parser("run", help="serve Telegram (token in QINGXIN_TELEGRAM_TOKEN)")
    run.add_argument("--webhook-url", help="receive updates at this public HTTPS URL instead "
                     "of polling")
    run.add_argument("--listen", default="127.0.0.1", help="webhook: address to listen on")
    run.add_argument("--port", type=int, default=8443, help="webhook: port to listen on")

    screen = commands.add_parser("screen", help="assess messages for risk, one a line")
    screen.add_argument("--jsonl", action="store_true", help='stdin lines are {"text": ...}')
    screen.add_argument("--lexicon-repeat", type=int, default=1, metavar="N",
                        help="load every lexicon key N times (to measure cost against size)")
    screen.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="processes screening piped input side by side (default: one a CPU)")

    training = commands.add_parser("train", help="fit a learned model on labelled data")
    train_commands = training.add_subparsers(dest="train_command", required=True)
    train_screening = train_commands.add_parser(
        "screening", help="the screener's model, from knowledge/risk/training/*.yaml")
    train_screening.add_argument("--data", type=Path, help="directory of labelled YAML files "
                                 "(default: the lexicon's training/)")
    train_screening.add_argument("--out", type=Path, help="model file to write (default: the "
                                 "lexicon's model.json)")

    evaluation = commands.add_parser("eval", help="measure against labelled data")
    eval_commands = evaluation.add_subparsers(dest="eval_command", required=True)
    eval_screening = eval_commands.add_parser("screening", help="the risk screener")
    eval_screening.add_argument("file", type=Path, help="labelled YAML list or JSON lines")
    eval_screening.add_argument("--json", action="store_true", help="print the result as JSON")
    eval_kb = eval_commands.add_parser("kb", help="the knowledge base search")
    eval_kb.add_argument("file", type=Path, help="labelled questions: YAML list or JSON lines "
                         "of {text, id}")
    eval_kb.add_argument("--json", action="store_true")

    kb = commands.add_parser("kb", help="the knowledge base")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)
    kb_search = kb_commands.add_parser("search", help="the entries closest to a question")
    kb_search.add_argument("question", nargs="?", help="omit with --jsonl")
    kb_search.add_argument("--json", action="store_true")
    kb_search.add_argument("--jsonl", action="store_true", help='stdin lines {"text": ...}')
    kb_search.add_argument("--top", type=int, default=3)
    kb_commands.add_parser("lint", help="check the entries")
    kb_commands.add_parser("stats", help="unanswered questions and votes")

    staff = commands.add_parser("counselors", help="invite, list and revoke counselors")
    staff_commands = staff.add_subparsers(dest="counselors_command", required=True)
    invite = staff_commands.add_parser("invite", help="print a one-time sign-in code")
    invite.add_argument("--role", required=True, choices=("psych", "legal", "supervisor"))
    invite.add_argument("--alias", help="the name teens see (default: 老师 and a number)")
    invite.add_argument("--hours", type=float, default=72, help="how long the code works")
    staff_list = staff_commands.add_parser("list", help="all counselors")
    staff_list.add_argument("--json", action="store_true")
    revoke = staff_commands.add_parser("revoke", help="sign a counselor out for good")
    revoke.add_argument("id", type=int)

    case_parser = commands.add_parser("cases", help="look at cases")
    case_commands = case_parser.add_subparsers(dest="cases_command", required=True)
    case_list = case_commands.add_parser("list", help="open cases in queue order")
    case_list.add_argument("--json", action="store_true")
    case_list.add_argument("--all", action="store_true", help="closed cases too")
    case_show = case_commands.add_parser("show", help="one case and its history")
    case_show.add_argument("id", type=int)
    case_show.add_argument("--json", action="store_true")

    flows = commands.add_parser("flows", help="check and draw the YAML flows")
    flow_commands = flows.add_subparsers(dest="flows_command", required=True)
    validate = flow_commands.add_parser("validate", help="check every flow in a folder")
    validate.add_argument("directory", nargs="?", type=Path, help="default: the flows in use")
    graph = flow_commands.add_parser("graph", help="draw a flow's state diagram")
    graph.add_argument("flow", help="flow name, e.g. teen")
    graph.add_argument("-o", "--output", type=Path, required=True,
                       help="FILE.mmd (Mermaid), FILE.dot, FILE.svg or FILE.png (Graphviz)")
    graph.add_argument("--lang", choices=("zh", "en"), default="zh")
    graph.add_argument("--dir", type=Path, dest="directory", help="default: the flows in use")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL at INFO, and a Bot API URL holds the bot token
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        stream.reconfigure(encoding="utf-8", errors="replace")  # type: ignore[attr-defined]
    try:
        if args.command == "chat":
            import asyncio  # here, not at the top: `qingxin screen` starts without it

            return asyncio.run(_chat(args))
        if args.command == "run":
            return _run_telegram(args)
        if args.command == "screen":
            return _screen(args.jsonl, args.lexicon_repeat, args.jobs)
        if args.command == "train":
            return _train_screening(args.data, args.out)
        if args.command == "eval" and args.eval_command == "kb":
            return _eval_kb(args.file, args.json)
        if args.command == "eval":
            return _eval_screening(args.file, args.json)
        if args.command == "kb":
            return _kb(args)
        if args.command in ("counselors", "cases"):
            return _operations(args)
        if args.flows_command == "validate":
            return _flows_validate(args.directory)
        return _flows_graph(args.flow, args.output, args.lang, args.directory)
    except DataError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_DATA
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


async def _chat(args: argparse.Namespace) -> int:
    from bot.app import build_app
    from bot.channels.console import run_interactive, run_jsonl
    from bot.settings import load_settings
    from storage.database import StorageUnavailable

    try:
        app = build_app(load_settings())
    except (StorageUnavailable, ValueError) as exc:
        print(f"qingxin: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        if args.jsonl:
            await run_jsonl(app, sys.stdin, sys.stdout, sys.stderr)
        else:
            await run_interactive(app, args.user, sys.stdin, sys.stdout)
    finally:
        await app.close()
    return 0


def _run_telegram(args: argparse.Namespace) -> int:
    import os
    import secrets

    from telegram import Update
    from telegram.error import InvalidToken, TelegramError

    from bot.app import build_app
    from bot.channels.telegram import build_application
    from bot.settings import load_settings
    from storage.database import StorageUnavailable

    token = os.environ.get("QINGXIN_TELEGRAM_TOKEN", "").strip()
    if not token:
        print("qingxin: set QINGXIN_TELEGRAM_TOKEN to the bot token from @BotFather",
              file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        app = build_app(load_settings())
    except (StorageUnavailable, ValueError) as exc:
        print(f"qingxin: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    application, _channel = build_application(
        app, token, os.environ.get("QINGXIN_TELEGRAM_BASE_URL") or None,
        overall_rate=int(os.environ.get("QINGXIN_TELEGRAM_RATE") or 30),
        team_chat=int(os.environ["QINGXIN_COUNSELOR_CHAT"])
        if os.environ.get("QINGXIN_COUNSELOR_CHAT") else None)

    async def check_token() -> None:
        # before PTB's retry loop, which would log the rejected token in a traceback
        async with application.bot:
            pass

    import asyncio

    try:
        asyncio.run(check_token())
        if args.webhook_url:
            secret = os.environ.get("QINGXIN_WEBHOOK_SECRET") or secrets.token_urlsafe(32)
            path = args.webhook_url.rstrip("/").rsplit("/", 1)[-1] or "telegram"
            application.run_webhook(listen=args.listen, port=args.port, url_path=path,
                                    webhook_url=args.webhook_url, secret_token=secret,
                                    allowed_updates=Update.ALL_TYPES)
        else:
            application.run_polling(allowed_updates=Update.ALL_TYPES)
    except InvalidToken:
        print("qingxin: Telegram rejected the token in QINGXIN_TELEGRAM_TOKEN", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except TelegramError as exc:
        print(f"qingxin: Telegram: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


def _screen(jsonl: bool, repeat: int, jobs: int) -> int:
    from bot.risk_tools import build_screener, screen_stream

    return screen_stream(build_screener(repeat), sys.stdin, sys.stdout, sys.stderr, jsonl,
                         jobs)


def _train_screening(data: Path | None, out: Path | None) -> int:
    from bot.core.risk.model import MODEL_FILE
    from bot.risk_training import train, training_files, write_model
    from bot.settings import lexicon_dir

    directory = data or lexicon_dir() / "training"
    files = training_files(directory)
    if not files:
        print(f"qingxin: no labelled YAML files in {directory}", file=sys.stderr)
        return EXIT_BAD_DATA
    target = out or lexicon_dir() / MODEL_FILE
    content = train(files)
    write_model(content, target)
    summary = content["trained_on"]
    print(f"wrote {target}: {summary['messages']} messages, {summary['features']} features, "
          f"thresholds {content['thresholds']}")
    print(f"cross-validated: {summary['cross_validated']}")
    return 0


def _eval_screening(path: Path, as_json: bool) -> int:
    import json

    from bot.risk_tools import build_screener, evaluate, read_labelled, report_lines

    try:
        rows = read_labelled(path)
    except (OSError, ValueError, KeyError) as exc:
        print(f"qingxin: {exc}", file=sys.stderr)
        return EXIT_BAD_DATA
    result = evaluate(build_screener(), rows)
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print("\n".join(report_lines(result)))
    return 0


def _operations(args: argparse.Namespace) -> int:
    import json
    import secrets
    from datetime import timedelta

    from bot.app import utc_now
    from bot.settings import load_settings
    from storage import operations
    from storage.database import StorageUnavailable, open_database

    try:
        engine = open_database(load_settings().database_url)
    except (StorageUnavailable, ValueError) as exc:
        print(f"qingxin: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    now = utc_now()
    try:
        if args.command == "counselors" and args.counselors_command == "invite":
            alias = args.alias or f"老师{secrets.randbelow(900) + 100}"
            code, expires = operations.invite(engine, args.role, alias, now,
                                              timedelta(hours=args.hours))
            print(f"role: {args.role}  alias: {alias}  expires: {expires:%Y-%m-%d %H:%M} UTC")
            print("the counselor sends /counselor CODE to the bot; the code works once:")
            print(code)
        elif args.command == "counselors" and args.counselors_command == "list":
            rows = operations.list_counselors(engine)
            print(json.dumps(rows, ensure_ascii=False) if args.json else "\n".join(
                f"{r['id']:>4}  {r['role']:<10} {r['alias']:<12} "
                f"{'on duty' if r['on_duty'] else 'off duty':<9} "
                f"{'active' if r['active'] else 'revoked'}" for r in rows) or "no counselors")
        elif args.command == "counselors":
            released = operations.revoke(engine, args.id, now)
            print(f"counselor {args.id} revoked; {released} active cases back in the queue")
        elif args.cases_command == "list":
            rows = operations.list_cases(engine, now, args.all)
            print(json.dumps(rows, ensure_ascii=False) if args.json else "\n".join(
                f"#{r['id']:<5} {r['state']:<10} {r['risk']:<9} {r['skill']:<10} "
                f"{r['waiting_min']:>5} min  {','.join(r['categories']) or '-'}  "
                f"{r['counselor'] or ''}" for r in rows) or "no open cases")
        else:
            case = operations.show_case(engine, args.id, now)
            print(json.dumps(case, ensure_ascii=False, indent=None if args.json else 2))
    except (LookupError, ValueError) as exc:
        print(f"qingxin: {exc}", file=sys.stderr)
        return EXIT_BAD_DATA
    finally:
        engine.dispose()
    return 0


def _knowledge():  # noqa: ANN202 - KnowledgeBase, imported lazily
    from bot.app import build_knowledge_base

    kb = build_knowledge_base()
    if kb is None:
        raise SystemExit("qingxin: the knowledge base has no entries")
    return kb


def _kb(args: argparse.Namespace) -> int:
    import json

    from bot import kb_tools

    kb = _knowledge()
    if args.kb_command == "search":
        if args.jsonl:
            return kb_tools.search_lines(kb, sys.stdin, sys.stdout, sys.stderr, args.top)
        hits = kb.search(args.question or "", args.top)
        if args.json:
            print(json.dumps([kb_tools.hit_json(h) for h in hits], ensure_ascii=False))
        else:
            for hit in hits:
                cited = ", ".join(f"{c.law} {c.article}" for c in hit.entry.citations)
                print(f"{hit.confidence:.2f}  {hit.entry.id}  {hit.entry.title.zh}"
                      f"{'  [' + cited + ']' if cited else ''}")
            if not hits:
                print("no match")
        return 0
    if args.kb_command == "lint":
        problems = kb_tools.lint_lines(kb)
        print("\n".join(problems) if problems else
              f"ok: {len(kb.knowledge.entries)} entries")
        return 1 if problems else 0
    from bot.settings import load_settings
    from storage.database import open_database

    engine = open_database(load_settings().database_url)
    print(json.dumps(kb_tools.stats(engine), ensure_ascii=False, indent=2))
    engine.dispose()
    return 0


def _eval_kb(path: Path, as_json: bool) -> int:
    import json

    from bot import kb_tools

    kb = _knowledge()
    result = kb_tools.evaluate(kb, kb_tools.read_labelled(path))
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(f"questions: {result['questions']}  top-1: {result['top1']:.1%}  "
          f"top-3: {result['top3']:.1%}")
    if result["legal_questions"]:
        print(f"legal questions: {result['legal_questions']}  law and article top-1: "
              f"{result['law_article_top1']:.1%}  top-3: {result['law_article_top3']:.1%}")
    for miss in result["misses"]:
        print("  " + json.dumps(miss, ensure_ascii=False))
    return 0


def _load(directory: Path | None):  # noqa: ANN202 - FlowSet, imported lazily
    from bot.core.engine import REQUIREMENTS
    from bot.core.flow_loader import load_flows
    from bot.core.registry import default_registry
    from bot.settings import load_settings

    return load_flows(directory or load_settings().flows_dir, default_registry(), REQUIREMENTS)


def _flows_validate(directory: Path | None) -> int:
    flow_set = _load(directory)
    states = len(flow_set.all_states())
    print(f"ok: {len(flow_set.specs)} flows, {states} states")
    return 0


def _flows_graph(flow: str, output: Path, lang: str, directory: Path | None) -> int:
    from bot.core.flow_graph import to_dot, to_mermaid

    flow_set = _load(directory)
    spec = flow_set.specs.get(flow)
    if spec is None:
        print(f"qingxin: no flow {flow!r}; there are: {', '.join(sorted(flow_set.specs))}",
              file=sys.stderr)
        return EXIT_BAD_DATA
    suffix = output.suffix.lower()
    if suffix in (".mmd", ".mermaid", ".md"):
        output.write_text(to_mermaid(spec, lang), encoding="utf-8")  # type: ignore[arg-type]
    elif suffix == ".dot":
        output.write_text(to_dot(spec, lang), encoding="utf-8")  # type: ignore[arg-type]
    elif suffix in (".svg", ".png"):
        dot = shutil.which("dot")
        if dot is None:
            print("qingxin: drawing .svg or .png needs Graphviz's `dot`; install it with "
                  "`apt-get install graphviz` (or `brew install graphviz`), or write a .mmd file",
                  file=sys.stderr)
            return EXIT_UNAVAILABLE
        subprocess.run([dot, f"-T{suffix[1:]}", "-o", str(output)],
                       input=to_dot(spec, lang).encode(), check=True)  # type: ignore[arg-type]
    else:
        print("qingxin: the output must end in .mmd, .dot, .svg or .png", file=sys.stderr)
        return EXIT_BAD_DATA
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
