"""One test per loading rule, each with the smallest YAML that breaks it; errors name the file,
line and column."""

from pathlib import Path
from textwrap import dedent

import pytest

from bot.core.datafile import DataError
from bot.core.flow_loader import Requirements, load_flows
from bot.core.registry import default_registry

NONE = Requirements()
GOOD = """\
flow: demo
start: menu
states:
  menu:
    say: {zh: 菜单, en: Menu}
    buttons:
      - id: go
        label: {zh: 去, en: Go}
        goto: page
  page:
    say: {zh: 页面, en: Page}
    buttons:
      - id: back
        label: {zh: 返回, en: Back}
        goto: menu
"""


def load(tmp_path: Path, *files: str, required: Requirements = NONE):
    for i, text in enumerate(files):
        (tmp_path / f"f{i}.yaml").write_text(dedent(text), encoding="utf-8")
    return load_flows(tmp_path, default_registry(), required)


def errors(tmp_path: Path, *files: str, required: Requirements = NONE) -> list[str]:
    with pytest.raises(DataError) as caught:
        load(tmp_path, *files, required=required)
    return [str(issue) for issue in caught.value.issues]


def test_a_good_flow_loads(tmp_path):
    flows = load(tmp_path, GOOD)
    assert [s for _, s in flows.all_states()] == ["menu", "page"]


def test_bad_yaml_names_file_line_and_column(tmp_path):
    [error] = errors(tmp_path, GOOD + "  broken: [unclosed\n")
    assert error.startswith(f"{tmp_path / 'f0.yaml'}:17:")
    assert "invalid YAML" in error


def test_half_written_file(tmp_path):
    [error] = errors(tmp_path, GOOD[: GOOD.index("  page:") + 10])
    assert str(tmp_path / "f0.yaml") in error


def test_duplicate_key_is_an_error_not_silently_dropped(tmp_path):
    text = GOOD.replace("    say: {zh: 页面, en: Page}\n",
                        "    say: {zh: 页面, en: Page}\n    say: {zh: 二, en: Two}\n")
    [error] = errors(tmp_path, text)
    assert error.endswith("duplicate key 'say'") and ":12:5:" in error


def test_unknown_key(tmp_path):
    issues = errors(tmp_path, GOOD.replace("    say: {zh: 菜单", "    sya: {zh: 菜单"))
    assert any(":5:5: unknown key 'sya'" in e for e in issues)
    assert any("missing required key 'say'" in e for e in issues)


def test_missing_translation(tmp_path):
    issues = errors(tmp_path, GOOD.replace("{zh: 页面, en: Page}", "{zh: 页面}"))
    assert any(":11:5: missing translation 'en'" in e for e in issues)


def test_empty_translation(tmp_path):
    issues = errors(tmp_path, GOOD.replace("en: Go}", "en: '  '}"))
    assert any("empty translation 'en'" in e for e in issues)


def test_unknown_target_state(tmp_path):
    issues = errors(tmp_path, GOOD.replace("goto: page", "goto: pgae"))
    assert any(":9:9: unknown target state 'demo.pgae'" in e for e in issues)


def test_unknown_target_in_another_flow(tmp_path):
    issues = errors(tmp_path, GOOD.replace("goto: page", "goto: other.page"))
    assert any("unknown target state 'other.page'" in e for e in issues)


def test_target_in_another_flow_is_followed(tmp_path):
    other = GOOD.replace("flow: demo", "flow: other")
    first = GOOD.replace("      - id: go\n", "      - id: out\n        label: {zh: 出, en: Out}\n"
                         "        goto: other.page\n      - id: go\n")
    flows = load(tmp_path, first, other, required=Requirements(states=("demo.menu",)))
    assert len(flows.all_states()) == 4


def test_unknown_condition_lists_the_known_ones(tmp_path):
    text = GOOD.replace("        goto: page\n", "        goto: page\n        if: is_sunny\n")
    [error] = errors(tmp_path, text)
    assert "unknown condition 'is_sunny'" in error and "role_is_teen" in error


def test_unknown_action(tmp_path):
    text = GOOD.replace("    say: {zh: 页面", "    enter: [launch_rockets]\n    say: {zh: 页面")
    [error] = errors(tmp_path, text)
    assert ":11:13: unknown action 'launch_rockets'" in error


def test_unreachable_state(tmp_path):
    text = GOOD + dedent("""\
      island:
        say: {zh: 岛, en: Island}
        buttons:
          - id: back
            label: {zh: 返回, en: Back}
            goto: menu
    """).replace("\n", "\n  ").replace("island:", "  island:", 1).rstrip() + "\n"
    issues = errors(tmp_path, text)
    assert any("state 'island' is unreachable" in e for e in issues)


def test_state_with_no_way_out(tmp_path):
    text = GOOD.replace("""    buttons:
      - id: back
        label: {zh: 返回, en: Back}
        goto: menu
""", "")
    [error] = errors(tmp_path, text)
    assert ":10:3: state 'page' has no way out" in error


def test_text_option_with_goto_is_a_way_out(tmp_path):
    text = GOOD.replace("""    buttons:
      - id: back
        label: {zh: 返回, en: Back}
        goto: menu
""", "    text:\n      - capture: answer\n        goto: menu\n")
    assert load(tmp_path, text)


def test_duplicate_button_id(tmp_path):
    text = GOOD.replace("      - id: back\n", "      - id: back\n        label: {zh: 回, en: B}\n"
                        "        goto: menu\n      - id: back\n")
    issues = errors(tmp_path, text)
    assert any("duplicate button id 'back'" in e for e in issues)


def test_bad_names(tmp_path):
    issues = errors(tmp_path, GOOD.replace("id: go", "id: go-now"))
    assert any("'go-now' is not a valid name" in e for e in issues)


def test_same_flow_name_twice(tmp_path):
    issues = errors(tmp_path, GOOD, GOOD)
    assert any("flow 'demo' is also defined in" in e for e in issues)


def test_engine_requirements_are_checked(tmp_path):
    issues = errors(tmp_path, GOOD, required=Requirements(states=("demo.menu", "system.help"),
                                                            texts=("demo.free_text",)))
    assert any("needs state 'system.help'" in e for e in issues)
    assert any("needs text 'demo.free_text'" in e for e in issues)


def test_every_problem_of_a_folder_is_reported_at_once(tmp_path):
    issues = errors(tmp_path, "flow: [", GOOD.replace("flow: demo", "flow: demo\nextra: 1"))
    assert len(issues) == 2 and {Path(e.split(":")[0]).name for e in issues} == {"f0.yaml",
                                                                                 "f1.yaml"}


def test_not_a_mapping(tmp_path):
    [error] = errors(tmp_path, "- just\n- a list\n")
    assert "must be a mapping" in error


def test_empty_folder(tmp_path):
    [error] = errors(tmp_path)
    assert "no flow files" in error


def test_yes_is_not_a_button_id(tmp_path):
    # YAML 1.1 reads a bare yes as true: the author gets told, not a crash
    issues = errors(tmp_path, GOOD.replace("id: go", "id: yes"))
    assert any(":7:9:" in e for e in issues)


def test_shipped_flows_validate(flow_set):
    assert {"main", "system", "teen", "parent"} <= set(flow_set.specs)


def test_translations_must_use_the_same_placeholders(tmp_path):
    # ` #` starts a YAML comment: the English line lost its {case}
    text = GOOD + "texts:\n  closed:\n    zh: 案例 {case} 已结案\n    en: Case #{case} closed\n"
    [error] = errors(tmp_path, text)
    assert ":17:" in error and "different placeholders" in error
