"""``qingxin screen`` and ``qingxin eval screening``: the screener as a command-line tool."""

from __future__ import annotations

import io
import json
import multiprocessing
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import yaml

from bot.core.risk.lexicon import Level
from bot.core.risk.screener import Assessment, Screener
from bot.screener_cache import load_cached_screener
from bot.settings import lexicon_dir
from bot.text_lines import read_texts


def build_screener(repeat: int = 1) -> Screener:
    """Raises ``DataError`` naming the file and line of a bad lexicon entry."""
    return load_cached_screener(lexicon_dir(), repeat=repeat)


BLOCK_BYTES = 1 << 18  # piped input is screened in blocks of whole lines of about this size


def screen_stream(screener: Screener, stdin: TextIO, stdout: TextIO, stderr: TextIO,
                  jsonl: bool, jobs: int = 1) -> int:
    """One JSON assessment per input line; bad JSON lines get an error on stderr and ``null``.

    Typed input is answered line by line. Piped input is read as bytes, in blocks of whole lines
    that ``jobs`` forked processes decode, screen and encode side by side, so the parent only
    moves bytes; answers keep the input's order."""
    if stdin.isatty():
        for number, line in enumerate(stdin, start=1):
            _write(_screen_bytes(screener, jsonl, number, line.encode()), stdout, stderr)
        return 0
    blocks = _byte_blocks(stdin)
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for block in blocks:
            _write(_screen_bytes(screener, jsonl, *block), stdout, stderr)
        return 0
    global _FORKED
    _FORKED = (screener, jsonl)  # inherited by the forked workers, never pickled
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for result in pool.imap(_screen_forked, blocks):
            _write(result, stdout, stderr)
    return 0


_FORKED: tuple[Screener, bool] | None = None


def _screen_forked(block: tuple[int, bytes]) -> tuple[bytes, str]:
    assert _FORKED is not None
    return _screen_bytes(*_FORKED, *block)


def _byte_blocks(stdin: TextIO) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, whole lines as bytes) for each block: what has arrived, up to
    about ``BLOCK_BYTES``, so a script that writes a line and waits gets its answer. UTF-8 never
    has a newline byte inside a character, so a cut after one is always between characters."""
    raw = stdin.buffer  # type: ignore[attr-defined]
    first_line = 1
    pending = bytearray()  # an unfinished line, however long it grows
    while chunk := raw.read1(BLOCK_BYTES):
        newline = chunk.rfind(b"\n")
        if newline < 0:
            pending += chunk
            continue
        block = bytes(pending + chunk[:newline + 1])
        pending = bytearray(chunk[newline + 1:])
        yield first_line, block
        # lines as a text stream counts them: \r\n, \n and a lone \r each end one
        first_line += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
    if pending:
        yield first_line, bytes(pending)


def _screen_bytes(screener: Screener, jsonl: bool, first_line: int,
                  block: bytes) -> tuple[bytes, str]:
    """``_screen_lines`` on a block of raw input, decoded as a text stream would decode it
    (bad UTF-8 replaced, ``\\r\\n`` and ``\\r`` ending lines); answers come back as UTF-8."""
    text = block.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    answers, errors = _screen_lines(screener, jsonl, first_line, lines)
    return answers.encode("utf-8", "replace"), errors


def _screen_lines(screener: Screener, jsonl: bool, first_line: int,
                  lines: list[str]) -> tuple[str, str]:
    """The answers to ``lines`` and any error messages, as two strings."""
    errors = io.StringIO()
    texts = list(read_texts(lines, errors, jsonl, first_line))
    results = iter(screener.assess_many([text for text in texts if text is not None]))
    answers = []
    for text in texts:
        if text is None:
            answers.append("null\n")
            continue
        answers.append(_answer(next(results)))
    return "".join(answers), errors.getvalue()


def _answer(result: Assessment) -> str:
    """``{"level": ..., "categories": [...], "evidence": [...]}`` and a newline, as
    ``json.dumps(..., ensure_ascii=False)`` writes it (a test holds the two together); levels
    and categories are plain identifiers, so only the quotes need escaping."""
    if not result.evidence and not result.categories:
        return _QUIET[result.level]
    categories = ", ".join(f'"{name}"' for name in result.categories)
    quotes = ", ".join([_quoted(evidence.quote) for evidence in result.evidence])
    return (f'{{"level": "{result.level.label}", "categories": [{categories}], '
            f'"evidence": [{quotes}]}}\n')


_quoted = json.encoder.encode_basestring  # type: ignore[attr-defined]  # what dumps uses
_QUIET = {level: json.dumps({"level": level.label, "categories": [], "evidence": []}) + "\n"
          for level in Level}


def _write(result: tuple[bytes, str], stdout: TextIO, stderr: TextIO) -> None:
    answers, errors = result
    if errors:
        stderr.write(errors)
    stdout.flush()
    stdout.buffer.write(answers)  # type: ignore[attr-defined]
    stdout.buffer.flush()  # type: ignore[attr-defined]


def read_labelled(path: Path) -> list[dict[str, Any]]:
    """A labelled set: a YAML list or JSON lines of ``{text, level, ...}``."""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    else:
        rows = yaml.safe_load(path.read_text(encoding="utf-8"))
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or "text" not in row or "level" not in row:
            raise ValueError(f"{path}: item {i} needs text and level")
        Level.parse(str(row["level"]))
    return rows


def evaluate(screener: Screener, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    matrix: Counter[tuple[str, str]] = Counter()
    misses, false_alarms, distress_missed = [], [], []
    crisis = crisis_caught = benign = benign_alarm = distress = distress_seen = 0
    rows = list(rows)
    assessed = screener.assess_many([row["text"] for row in rows])
    for row, assessment in zip(rows, assessed, strict=True):
        expected = Level.parse(str(row["level"]))
        got = assessment.level
        matrix[expected.label, got.label] += 1
        if expected >= Level.HIGH:
            crisis += 1
            crisis_caught += got >= Level.HIGH
            if got < Level.HIGH:
                misses.append({"text": row["text"], "expected": expected.label,
                               "got": got.label})
        elif expected == Level.NONE:
            benign += 1
            benign_alarm += got >= Level.HIGH
            if got >= Level.HIGH:
                false_alarms.append({"text": row["text"], "got": got.label})
        else:
            distress += 1
            distress_seen += got >= Level.LOW
            if got < Level.LOW:
                distress_missed.append({"text": row["text"], "expected": expected.label})
    return {
        "messages": sum(matrix.values()),
        "confusion": {e.label: {g.label: matrix[e.label, g.label] for g in Level} for e in Level},
        "crisis_recall": crisis_caught / crisis if crisis else None,
        "benign_false_alarm_rate": benign_alarm / benign if benign else None,
        "distress_at_least_low": distress_seen / distress if distress else None,
        "counts": {"crisis": crisis, "benign": benign, "distress": distress},
        "misses": misses, "false_alarms": false_alarms, "distress_missed": distress_missed,
    }


def report_lines(result: dict[str, Any]) -> Iterator[str]:
    levels = [level.label for level in Level]
    yield f"messages: {result['messages']}"
    yield "confusion (rows: expected, columns: assessed)"
    yield "expected   " + "".join(f"{name:>10}" for name in levels)
    for expected in levels:
        row = result["confusion"][expected]
        yield f"{expected:<11}" + "".join(f"{row[g]:>10}" for g in levels)

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    counts = result["counts"]
    yield (f"recall of high+imminent: {pct(result['crisis_recall'])} of {counts['crisis']}")
    yield (f"false alarms (benign assessed high or above): "
           f"{pct(result['benign_false_alarm_rate'])} of {counts['benign']}")
    yield (f"distress assessed at least low: {pct(result['distress_at_least_low'])} of "
           f"{counts['distress']}")
    for title, key in (("missed crisis messages", "misses"), ("false alarms", "false_alarms"),
                       ("distress assessed none", "distress_missed")):
        if result[key]:
            yield f"{title}:"
            for item in result[key]:
                yield "  " + json.dumps(item, ensure_ascii=False)
