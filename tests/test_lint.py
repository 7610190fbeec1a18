"""The code stays ruff-clean: a lint failure fails the suite, as any other defect would."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the test extra)")
    done = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_module_entry_point_matches_console_script():
    done = subprocess.run([sys.executable, "-m", "bot.cli", "--help"], capture_output=True,
                          text=True)
    assert done.returncode == 0 and "chat" in done.stdout and "flows" in done.stdout
