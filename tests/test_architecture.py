"""The core stays pure: no channel, no database driver, no event loop, no clock of its own."""

import ast
from pathlib import Path

import bot.core

CORE = Path(bot.core.__file__).parent
FORBIDDEN = ("telegram", "sqlalchemy", "aiosqlite", "asyncpg", "psycopg", "sqlite3", "asyncio",
             "storage", "bot.channels", "bot.runtime", "time", "random")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_nothing_that_does_io():
    for path in CORE.glob("*.py"):
        for name in _imports(path):
            assert not any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN), (
                f"{path.name} imports {name}")


def test_core_reads_no_clock():
    for path in CORE.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "datetime.now" not in source and "utcnow" not in source, path.name
