"""The ``qingxin`` command: one sub-command per task; parse, call, print."""

from __future__ import annotations

import argparse
import asyncio
import logging
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

    screen = commands.add_parser("screen", help="assess messages for risk, one a line")
    screen.add_argument("--jsonl", action="store_true", help='stdin lines are {"text": ...}')

    evaluation = commands.add_parser("eval", help="measure against labelled data")
    eval_commands = evaluation.add_subparsers(dest="eval_command", required=True)
    eval_screening = eval_commands.add_parser("screening", help="the risk screener")
    eval_screening.add_argument("file", type=Path, help="labelled YAML list or JSON lines")
    eval_screening.add_argument("--json", action="store_true", help="print the result as JSON")

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
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        stream.reconfigure(encoding="utf-8", errors="replace")  # type: ignore[attr-defined]
    try:
        if args.command == "chat":
            return asyncio.run(_chat(args))
        if args.command == "screen":
            return _screen(args.jsonl)
        if args.command == "eval":
            return _eval_screening(args.file, args.json)
        if args.flows_command == "validate":
            return _flows_validate(args.directory)
        return _flows_graph(args.flow, args.output, args.lang, args.directory)
    except DataError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_DATA
    except KeyboardInterrupt:
        return 130


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


def _screen(jsonl: bool) -> int:
    from bot.risk_tools import build_screener, screen_stream

    return screen_stream(build_screener(), sys.stdin, sys.stdout, sys.stderr, jsonl)


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
