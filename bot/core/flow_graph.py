"""State diagrams generated from a loaded flow, never drawn by hand."""

from __future__ import annotations

from bot.core.events import Lang
from bot.core.flow_schema import FlowSpec


def _edges(spec: FlowSpec, lang: Lang) -> list[tuple[str, str, str]]:
    edges = []
    for name, state in spec.states.items():
        for button in state.buttons:
            edges.append((name, button.goto, button.label.get(lang)))
        for option in state.text:
            if option.goto:
                edges.append((name, option.goto, f"text: {option.capture}" if option.capture
                              else "text"))
    return edges


def _node(name: str) -> str:
    return name.replace(".", "__").replace("@", "at_")


def _quote(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")


def to_mermaid(spec: FlowSpec, lang: Lang = "zh") -> str:
    lines = ["stateDiagram-v2", f"    [*] --> {spec.start}"]
    for target in sorted({t for _, t, _ in _edges(spec, lang) if t not in spec.states}):
        lines.append(f'    state "{target}" as {_node(target)}')
    for source, target, label in _edges(spec, lang):
        lines.append(f"    {source} --> {_node(target)}: {_quote(label).replace(':', '：')}")
    return "\n".join(lines) + "\n"


def to_dot(spec: FlowSpec, lang: Lang = "zh") -> str:
    lines = [f'digraph "{spec.flow}" {{', "  rankdir=LR;",
             '  node [shape=box, style=rounded, fontname="Noto Sans CJK SC"];',
             '  edge [fontname="Noto Sans CJK SC", fontsize=10];',
             '  "__start" [shape=point];', f'  "__start" -> "{spec.start}";']
    for target in sorted({t for _, t, _ in _edges(spec, lang) if t not in spec.states}):
        lines.append(f'  "{target}" [style=dashed];')
    for source, target, label in _edges(spec, lang):
        lines.append(f'  "{source}" -> "{target}" [label="{_quote(label)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
