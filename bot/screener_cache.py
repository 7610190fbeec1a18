"""A compiled copy of the screener (lexicon automaton and model) kept in the user's cache folder,
so start-up does not re-read and re-check some 70,000 model features and the lexicon's YAML
each time.

Rules of this module:
- The copy is keyed by a SHA-256 of everything that shapes it: the lexicon files and model of
  the lexicon folder, the screening code, the Python, numpy, pydantic and pyahocorasick builds
  and ``repeat``.
  Change any of them and the screener is loaded (and validated) from the files again.
- The cache is an optimisation only: a folder that cannot be created or written, or a copy that
  cannot be read, means loading from the files as before. Errors in the files are still raised.
- The folder is ``$QINGXIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/qingxin``, else
  ``~/.cache/qingxin``; it is created private (0700), and a copy owned by another user is never
  read (unpickling runs code).
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import ahocorasick
import numpy
import pydantic

import bot.core.risk
from bot.core.risk.screener import Screener, load_screener

PREFIX = "screener-"
KEEP = 4  # compiled versions kept (the shipped lexicon, a x10 benchmark copy, an edit or two)


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("QINGXIN_CACHE_DIR"):
        return Path(env["QINGXIN_CACHE_DIR"])
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "qingxin"


def fingerprint(directory: Path, repeat: int) -> str:
    """What the compiled screener depends on, as one SHA-256."""
    # pyahocorasick has no __version__: its compiled module's size and time stand for it
    compiled = os.stat(ahocorasick.__file__) if ahocorasick.__file__ else None
    build = f"{compiled.st_size}:{compiled.st_mtime_ns}" if compiled else "-"
    digest = hashlib.sha256(f"{sys.version}|{numpy.__version__}|{pydantic.__version__}|{build}|"
                            f"{repeat}".encode())
    code = Path(bot.core.risk.__file__).parent
    for path in [*sorted(code.glob("*.py")), *sorted(directory.glob("*.yaml")),
                 directory / "model.json"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()


def load_cached_screener(directory: Path, repeat: int = 1, folder: Path | None = None) -> Screener:
    """The screener of ``directory``, from the cache when it holds this exact version; raises
    ``DataError`` for bad lexicon or model files, as ``load_screener`` does."""
    folder = folder or cache_dir()
    path = folder / f"{PREFIX}{fingerprint(directory, repeat)[:40]}.pickle"
    collecting = gc.isenabled()
    gc.disable()  # loading makes hundreds of thousands of objects, none of them garbage
    try:
        screener = _read(path)
        if screener is None:
            screener = load_screener(directory, repeat=repeat)
            _write(folder, path, screener)
    finally:
        # they live as long as the process: the cycle collector need never walk them again
        gc.freeze()
        if collecting:
            gc.enable()
    return screener


def _read(path: Path) -> Screener | None:
    try:
        if path.stat().st_uid != os.getuid():
            return None
        with path.open("rb") as file:
            screener = pickle.load(file)  # noqa: S301 - our own file in a private folder
    except Exception:  # a missing, unreadable or outdated copy: load from the files
        return None
    return screener if isinstance(screener, Screener) else None


def _write(folder: Path, path: Path, screener: Screener) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as file:
            pickle.dump(screener, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(file.name, path)
        copies = sorted(folder.glob(f"{PREFIX}*.pickle"), key=lambda copy: copy.stat().st_mtime)
        for old in copies[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        return  # a read-only home or a full disk: loading from the files still works
