"""Every phone number users see comes from the one sourced data file."""

import re
from pathlib import Path

import yaml

import knowledge
from tests.conftest import FLOWS_DIR

RESOURCES = Path(knowledge.__file__).parent / "crisis_resources.yaml"
# service numbers (110, 120, 119, 12355 ...) and landlines with an area code; not article numbers
NUMBER = re.compile(r"(?<![\d.:第])(?<!Art\. )(?<!Article )"
                    r"(\d{3,4}-\d{7,8}|1[12]\d|12\d{3}|[48]00-?\d{3}-?\d{4})(?![\d:条])")


def test_every_resource_has_a_source():
    data = yaml.safe_load(RESOURCES.read_text(encoding="utf-8"))
    for item in data["resources"]:
        assert item["source"].strip() and item["name"]["zh"] and item["name"]["en"]


def test_every_number_in_the_flows_is_a_listed_resource():
    listed = {item["number"] for item in yaml.safe_load(
        RESOURCES.read_text(encoding="utf-8"))["resources"]}
    for path in FLOWS_DIR.glob("*.yaml"):
        for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for number in NUMBER.findall(line):
                assert number in listed, f"{path.name}:{line_number}: {number} is not sourced"
