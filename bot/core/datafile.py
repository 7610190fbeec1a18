"""Read YAML data files keeping where every value came from, so errors can say ``path:line:col``.

Rules of this module:
- PyYAML silently keeps the last of two equal keys; here a duplicate key is an error.
- Values come back as plain ``dict``/``list``/scalars together with a ``Positions`` index from
  the value's path (``("states", "menu", "say")``) to its line and column, 1-based.
- Every problem is a ``DataIssue``; ``DataError`` carries all of them, so an author sees every
  mistake of a file at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

try:  # the C composer is several times faster; both give the same marks
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DataIssue:
    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class DataError(Exception):
    """One or more problems in data files; ``str()`` gives one ``path:line:col: message`` a line."""

    def __init__(self, issues: Sequence[DataIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class Positions:
    """Where each value of a parsed file starts; unknown paths fall back to their parent."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._marks: dict[PathKey, tuple[int, int]] = {}

    def record(self, key: PathKey, node: yaml.Node) -> None:
        self._marks[key] = (node.start_mark.line + 1, node.start_mark.column + 1)

    def issue(self, key: Iterable[str | int], message: str) -> DataIssue:
        where = tuple(key)
        while where and where not in self._marks:
            where = where[:-1]
        line, col = self._marks.get(where, (1, 1))
        return DataIssue(path=self.path, line=line, col=col, message=message)


_scalars = SafeConstructor()


def load_yaml(path: Path, display: str | None = None) -> tuple[Any, Positions]:
    """Parse one YAML file; raise ``DataError`` for unreadable files, bad YAML or duplicate keys."""
    shown = display or str(path)
    positions = Positions(shown)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        issue = DataIssue(path=shown, line=1, col=1, message=f"cannot read: {exc}")
        raise DataError([issue]) from exc
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        raise DataError([DataIssue(path=shown, line=line, col=col, message=message)]) from exc
    except yaml.YAMLError as exc:
        issue = DataIssue(path=shown, line=1, col=1, message=f"invalid YAML: {exc}")
        raise DataError([issue]) from exc
    if node is None:
        return None, positions
    issues: list[DataIssue] = []
    value = _build(node, (), positions, issues)
    if issues:
        raise DataError(issues)
    return value, positions


def _build(node: yaml.Node, key: PathKey, positions: Positions, issues: list[DataIssue]) -> Any:
    positions.record(key, node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            name = _scalar(key_node, positions, issues)
            if not isinstance(name, str | int | bool | float) or name is None:
                issues.append(positions.issue(key, "mapping keys must be plain words"))
                continue
            child = (*key, str(name))
            if name in result:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                issues.append(
                    DataIssue(path=positions.path, line=line, col=col,
                              message=f"duplicate key {name!r}")
                )
                continue
            result[name] = _build(value_node, child, positions, issues)
            positions.record(child, key_node)  # problems with a key point at the key itself
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*key, i), positions, issues) for i, item in enumerate(node.value)]
    return _scalar(node, positions, issues)


def _scalar(node: yaml.Node, positions: Positions, issues: list[DataIssue]) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        issues.append(DataIssue(path=positions.path, line=line, col=col,
                                message="expected a plain value here"))
        return None
    try:
        return _scalars.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        issues.append(DataIssue(path=positions.path, line=line, col=col,
                                message=f"invalid value: {exc.problem}"))
        return None
