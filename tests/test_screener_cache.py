"""The compiled screener in the cache folder: used only when it is exactly this version."""

import shutil
from pathlib import Path

import pytest

from bot.core.datafile import DataError
from bot.screener_cache import KEEP, load_cached_screener
from bot.settings import lexicon_dir

MESSAGES = ["我想紫砂", "笑死我了", "I have a plan, just not a date", "繼父常常半夜進來我房間"]


@pytest.fixture
def lexicon(tmp_path: Path) -> Path:
    """A copy of the shipped lexicon and model that a test may change."""
    folder = tmp_path / "risk"
    shutil.copytree(lexicon_dir(), folder, ignore=shutil.ignore_patterns("training"))
    return folder


def _copies(folder: Path) -> list[Path]:
    return sorted(folder.glob("screener-*.pickle"))


def test_the_second_load_comes_from_the_cache_and_assesses_the_same(lexicon, tmp_path):
    cache = tmp_path / "cache"
    built = load_cached_screener(lexicon, folder=cache)
    [copy] = _copies(cache)
    assert copy.stat().st_mode & 0o077 == 0 and cache.stat().st_mode & 0o077 == 0
    cached = load_cached_screener(lexicon, folder=cache)
    assert cached is not built
    assert [cached.assess(m) for m in MESSAGES] == [built.assess(m) for m in MESSAGES]


def test_a_changed_lexicon_is_read_from_its_files(lexicon, tmp_path):
    cache = tmp_path / "cache"
    assert load_cached_screener(lexicon, folder=cache).assess("zzqq").level.label == "none"
    (lexicon / "running_away.yaml").write_text(
        (lexicon / "running_away.yaml").read_text(encoding="utf-8").replace(
            "terms:\n", "terms:\n  - term: zzqq\n    lang: en\n    level: high\n", 1),
        encoding="utf-8")
    assert load_cached_screener(lexicon, folder=cache).assess("zzqq").level.label == "high"
    assert len(_copies(cache)) == 2


def test_a_broken_lexicon_fails_even_with_an_older_copy_cached(lexicon, tmp_path):
    cache = tmp_path / "cache"
    load_cached_screener(lexicon, folder=cache)
    (lexicon / "suicide.yaml").write_text("category: suicide\nterms: [\n", encoding="utf-8")
    with pytest.raises(DataError, match="suicide.yaml:3:"):
        load_cached_screener(lexicon, folder=cache)


def test_a_damaged_copy_or_an_unwritable_folder_falls_back_to_the_files(lexicon, tmp_path):
    cache = tmp_path / "cache"
    load_cached_screener(lexicon, folder=cache)
    [copy] = _copies(cache)
    copy.write_bytes(b"not a pickle")
    assert load_cached_screener(lexicon, folder=cache).assess(MESSAGES[0]).level.label == "high"
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("", encoding="utf-8")
    assert load_cached_screener(lexicon, folder=blocked).assess(MESSAGES[0]).level.label == "high"


def test_only_the_newest_copies_are_kept(lexicon, tmp_path):
    cache = tmp_path / "cache"
    for repeat in range(1, KEEP + 3):
        load_cached_screener(lexicon, repeat=repeat, folder=cache)
    assert len(_copies(cache)) == KEEP
