"""Reading one question or message a line, as plain text or as ``{"text": ...}`` JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TextIO


def read_texts(stdin: Iterable[str], stderr: TextIO, jsonl: bool,
               first_line: int = 1) -> Iterator[str | None]:
    """Each line's text; None for a malformed JSON line, after saying why on stderr with its
    line number (the caller writes ``null`` for it, so outputs stay line for line)."""
    for number, raw in enumerate(stdin, start=first_line):
        text = raw.rstrip("\n")
        if not jsonl:
            yield text
            continue
        try:
            data = json.loads(text)
            value = data.get("text") if isinstance(data, dict) else None
            if not isinstance(value, str):
                raise ValueError('expected {"text": "..."}')
        except ValueError as exc:
            stderr.write(f"qingxin: stdin line {number}: {exc}\n")
            yield None
            continue
        yield value
