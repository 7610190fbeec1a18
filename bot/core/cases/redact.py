"""Taking identifying details out of the lines a counselor sees in a case notification.

Phone numbers, ID-card numbers, street addresses and school names are replaced by a tag in
brackets. Deliberately greedy: a counselor loses little by missing a place name, a teen loses a
lot if their school is shown.
"""

from __future__ import annotations

import re

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # 18-digit resident ID (last digit may be X), and the old 15-digit one
    (re.compile(r"(?<!\d)\d{17}[\dXx](?![\dA-Za-z])|(?<!\d)\d{15}(?!\d)"), "[身份证号/ID]"),
    # mainland mobiles, with optional +86 and separators; landlines with area code
    (re.compile(r"(?:\+?86[\s-]?)?(?<!\d)1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)"), "[电话/phone]"),
    (re.compile(r"(?<!\d)0\d{2,3}[\s-]?\d{7,8}(?!\d)"), "[电话/phone]"),
    (re.compile(r"(?<!\d)\d{3}[\s.-]\d{3}[\s.-]\d{4}(?!\d)"), "[电话/phone]"),
    # Chinese addresses: a run ending in road/street/lane/number/building/room markers
    (re.compile(r"[\u4e00-\u9fff0-9A-Za-z]{0,12}(?:省|市|区|县|镇|乡|村)?[\u4e00-\u9fff0-9A-Za-z]{0,10}"
                r"(?:路|街|大道|巷|弄|胡同|小区|花园|公寓|大厦)[\u4e00-\u9fff0-9A-Za-z-]{0,12}"
                r"(?:号楼|号|栋|幢|单元|室|楼)?"), "[地址/address]"),
    (re.compile(r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|"
                r"Boulevard|Blvd|Drive|Dr)\b\.?", re.IGNORECASE), "[address]"),
    # schools: a name ending in a school word (第一中学, 实验小学, 育才学校, 北京四中)
    (re.compile(r"(?:(?![我你他她在的们了是去到从和跟上回这那个要想说])[\u4e00-\u9fff0-9A-Za-z]){1,12}"
                r"(?:中学|小学|学校|大学|学院|职高|中专|一中|二中|"
                r"三中|四中|五中|六中|七中|八中|九中|十中|附中|初中部|高中部)"), "[学校/school]"),
    (re.compile(r"\b(?:[A-Z][A-Za-z]+\s){1,4}(?:High|Middle|Primary|Elementary|Junior High)?\s?"
                r"School\b"), "[school]"),
)


def redact(text: str) -> str:
    for pattern, tag in _RULES:
        text = pattern.sub(tag, text)
    return text
