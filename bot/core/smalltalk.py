"""Small talk: a whole message that is only a greeting, a check that someone is there, thanks
or a goodbye (你好, 在吗, 谢谢, 拜拜, "hi", "thx"). Free text otherwise goes to the knowledge
base, which has no answer for these and would say "I can't answer that one yet" to a teen who
only said hello.

Rules of this module:
- The phrases are data (``knowledge/smalltalk.yaml``), validated when loaded with ``path:line``.
- A message matches only as a whole, after normalisation (Traditional, full-width and case are
  folded as for screening) with punctuation, emoji, spaces and trailing modal particles
  (呀, 啊, 哈, ~) removed: 你好呀！！ is a greeting, 你好，我被打了 is not.
- The screener runs first: a message that may mean danger never reaches small talk.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, get_args

from bot.core.datafile import DataError, load_yaml
from bot.core.risk.normalize import normalize

Intent = Literal["greeting", "presence", "thanks", "goodbye"]
INTENTS: tuple[Intent, ...] = get_args(Intent)
MAX_CHARS = 40  # longer messages are never small talk

_NOT_WORD = re.compile(r"[^\w\u3400-\u9fff]+|_")
_PARTICLES = re.compile(r"(?<=.)[呀啊哈呢吖哦噢喔嘛啦咯嗷嘿]+$")


def _key(text: str) -> str:
    cleaned = _NOT_WORD.sub("", normalize(text).text)
    return _PARTICLES.sub("", cleaned)


class SmallTalk:
    def __init__(self, phrases: dict[Intent, list[str]]) -> None:
        self._intents = {_key(phrase): intent for intent, words in phrases.items()
                         for phrase in words}

    def intent(self, text: str) -> Intent | None:
        """The small-talk intent of a whole message, or None."""
        if len(text) > MAX_CHARS:
            return None
        key = _key(text)
        return self._intents.get(key) if key else None


def load_smalltalk(path: Path) -> SmallTalk:
    """Raises ``DataError`` with the file and line of a bad entry."""
    data, positions = load_yaml(path)
    if not isinstance(data, dict):
        raise DataError([positions.issue((), f"expected the intents {', '.join(INTENTS)}")])
    issues = [positions.issue((str(name),), f"unknown intent {name!r}; expected one of "
                                            f"{', '.join(INTENTS)}")
              for name in data if name not in INTENTS]
    seen: dict[str, str] = {}
    for name in INTENTS:
        words = data.get(name)
        if not isinstance(words, list) or not words:
            issues.append(positions.issue((name,), f"{name}: expected a list of phrases"))
            continue
        for i, phrase in enumerate(words):
            key = _key(phrase) if isinstance(phrase, str) else ""
            if not key:
                issues.append(positions.issue((name, i), "expected a phrase with letters in it"))
            elif key in seen:
                issues.append(positions.issue((name, i),
                                              f"{phrase!r} is already listed under {seen[key]}"))
            else:
                seen[key] = name
    if issues:
        raise DataError(issues)
    return SmallTalk({name: data[name] for name in INTENTS})
