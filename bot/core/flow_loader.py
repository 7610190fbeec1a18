"""Load every flow of a folder, check it in stages and compile it into a ``FlowSet``.

Stages, each reporting every problem it finds with ``path:line:col``:
1. YAML with positions and no duplicate keys (``datafile``);
2. shape, through the pydantic models of ``flow_schema``;
3. rules across flows: unique flow names, known targets, conditions and actions, unique button
   ids, what the engine needs, a way out of every state, every state reachable.
Raises ``DataError`` with all issues; returns a ``FlowSet`` only when there is none.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from bot.core.datafile import DataError, DataIssue, Positions, load_yaml
from bot.core.flow_machine import FlowSet
from bot.core.flow_schema import FlowSpec, Text
from bot.core.registry import Registry

SPECIAL_TARGETS = frozenset({"@back", "@menu"})


@dataclass(frozen=True, slots=True)
class Requirements:
    """States (``flow.state``) and texts (``flow.text``) the engine relies on."""

    states: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Parsed:
    spec: FlowSpec
    positions: Positions


def load_flows(directory: Path, registry: Registry, required: Requirements) -> FlowSet:
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise DataError([DataIssue(path=str(directory), line=1, col=1,
                                   message="no flow files (*.yaml) in this folder")])
    issues: list[DataIssue] = []
    parsed: dict[str, _Parsed] = {}
    for path in files:
        flow = _parse(path, issues)
        if flow is None:
            continue
        if flow.spec.flow in parsed:
            first = parsed[flow.spec.flow].positions.path
            issues.append(flow.positions.issue(("flow",), f"flow {flow.spec.flow!r} is also "
                                               f"defined in {first}"))
            continue
        parsed[flow.spec.flow] = flow
    if not issues:
        issues.extend(_check_rules(parsed, registry, required, directory))
    if issues:
        raise DataError(issues)
    return FlowSet({name: item.spec for name, item in parsed.items()}, registry)


def _parse(path: Path, issues: list[DataIssue]) -> _Parsed | None:
    try:
        data, positions = load_yaml(path)
    except DataError as exc:
        issues.extend(exc.issues)
        return None
    if not isinstance(data, dict):
        issues.append(positions.issue((), "a flow file must be a mapping with flow, start, states"))
        return None
    try:
        spec = FlowSpec.model_validate(data)
    except ValidationError as exc:
        issues.extend(_shape_issue(positions, error) for error in exc.errors())
        return None
    return _Parsed(spec, positions)


def _shape_issue(positions: Positions, error: dict) -> DataIssue:
    loc = tuple(part for part in error["loc"] if part != "[key]")
    kind, last = error["type"], (loc[-1] if loc else "")
    if kind == "missing" and last in ("zh", "en"):
        message = f"missing translation {last!r}"
    elif kind == "missing":
        message = f"missing required key {last!r}"
    elif kind == "extra_forbidden":
        message = f"unknown key {last!r}"
    elif kind == "string_pattern_mismatch":
        message = f"{error['input']!r} is not a valid name or target"
    elif kind == "string_too_short" and last in ("zh", "en"):
        message = f"empty translation {last!r}"
    else:
        message = f"{'.'.join(map(str, loc)) or 'file'}: {error['msg']}"
    return positions.issue(loc, message)


def _check_rules(parsed: dict[str, _Parsed], registry: Registry, required: Requirements,
                 directory: Path) -> list[DataIssue]:
    issues: list[DataIssue] = []
    known = {f"{name}.{state}" for name, item in parsed.items() for state in item.spec.states}
    edges: dict[str, set[str]] = {where: set() for where in known}

    def resolve(flow: str, target: str) -> str:
        return target if "." in target or target in SPECIAL_TARGETS else f"{flow}.{target}"

    for name, item in parsed.items():
        spec, pos = item.spec, item.positions
        if spec.states and spec.start not in spec.states:
            issues.append(pos.issue(("start",), f"start state {spec.start!r} is not defined"))
        for state_name, state in spec.states.items():
            here = ("states", state_name)
            where = f"{name}.{state_name}"
            seen_ids: set[str] = set()
            for i, button in enumerate(state.buttons):
                at = (*here, "buttons", i)
                if button.id in seen_ids:
                    issues.append(pos.issue((*at, "id"), f"duplicate button id {button.id!r}"))
                seen_ids.add(button.id)
                issues.extend(_check_target(pos, (*at, "goto"), resolve(name, button.goto),
                                            known, edges[where]))
                issues.extend(_check_name(pos, (*at, "if"), button.if_, registry.conditions,
                                          "condition"))
            for i, option in enumerate(state.text):
                at = (*here, "text", i)
                if option.goto is not None:
                    issues.extend(_check_target(pos, (*at, "goto"), resolve(name, option.goto),
                                                known, edges[where]))
                issues.extend(_check_name(pos, (*at, "if"), option.if_, registry.conditions,
                                          "condition"))
            for i, action in enumerate(state.enter):
                issues.extend(_check_name(pos, (*here, "enter", i), action, registry.actions,
                                          "action"))
            if not state.buttons and not any(option.goto for option in state.text):
                issues.append(pos.issue(here, f"state {state_name!r} has no way out: give it a "
                                              "button or a text option with goto"))
    issues.extend(_check_placeholders(parsed))
    issues.extend(_check_required(parsed, required, known, directory))
    issues.extend(_check_reachable(parsed, required, edges))
    return issues


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _check_placeholders(parsed: dict[str, _Parsed]) -> Iterable[DataIssue]:
    """Both translations must use the same {placeholders}: a difference is nearly always a
    mistake, such as a YAML comment (` #`) that cut a line short."""
    for item in parsed.values():
        spec, pos = item.spec, item.positions
        texts: list[tuple[tuple, Text]] = [(("texts", name), text)
                                           for name, text in spec.texts.items()]
        for state_name, state in spec.states.items():
            texts.append((("states", state_name, "say"), state.say))
            texts.extend((("states", state_name, "buttons", i, "label"), b.label)
                         for i, b in enumerate(state.buttons))
            texts.extend((("states", state_name, "text", i, "say"), o.say)
                         for i, o in enumerate(state.text) if o.say is not None)
        for at, text in texts:
            zh, en = set(_PLACEHOLDER.findall(text.zh)), set(_PLACEHOLDER.findall(text.en))
            if zh != en:
                yield pos.issue(at, f"zh and en use different placeholders: "
                                    f"{sorted(zh)} and {sorted(en)}")


def _check_target(pos: Positions, at: tuple, target: str, known: set[str],
                  edges: set[str]) -> Iterable[DataIssue]:
    if target in SPECIAL_TARGETS:
        return ()
    if target not in known:
        return (pos.issue(at, f"unknown target state {target!r}"),)
    edges.add(target)
    return ()


def _check_name(pos: Positions, at: tuple, name: str | None, registry: object,
                kind: str) -> Iterable[DataIssue]:
    if name is None or name in registry:  # type: ignore[operator]
        return ()
    choices = ", ".join(sorted(registry))  # type: ignore[call-overload]
    return (pos.issue(at, f"unknown {kind} {name!r} (known: {choices})"),)


def _check_required(parsed: dict[str, _Parsed], required: Requirements, known: set[str],
                    directory: Path) -> Iterable[DataIssue]:
    for where in required.states:
        if where not in known:
            flow = where.split(".", 1)[0]
            yield _issue_in(parsed, flow, directory, f"the engine needs state {where!r}")
    for where in required.texts:
        flow, text = where.split(".", 1)
        if flow not in parsed or text not in parsed[flow].spec.texts:
            yield _issue_in(parsed, flow, directory, f"the engine needs text {where!r} "
                                                     f"(under texts:)")


def _issue_in(parsed: dict[str, _Parsed], flow: str, directory: Path, message: str) -> DataIssue:
    if flow in parsed:
        return parsed[flow].positions.issue((), message)
    return DataIssue(path=str(directory / f"{flow}.yaml"), line=1, col=1, message=message)


def _check_reachable(parsed: dict[str, _Parsed], required: Requirements,
                     edges: dict[str, set[str]]) -> Iterable[DataIssue]:
    roots = [where for where in required.states if where in edges] or [
        f"{name}.{item.spec.start}" for name, item in parsed.items() if item.spec.states
    ]
    seen = set(roots)
    queue = deque(roots)
    while queue:
        for target in edges[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    for where in edges:
        if where not in seen:
            flow, state = where.split(".", 1)
            yield parsed[flow].positions.issue(("states", state),
                                               f"state {state!r} is unreachable")
