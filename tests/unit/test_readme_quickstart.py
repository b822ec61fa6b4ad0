"""The README's Quick start works on Debian's system python3, which refuses a pip install
outside a virtual environment: a venv is made and activated before the first pip install.
(ci/test-wheel runs the block as written.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_quick_start_makes_and_activates_a_venv_before_pip_install() -> None:
    block = re.search(r"## Quick start\n\n```sh\n(.*?)```", README.read_text(), re.S)
    assert block, "README: no ```sh block right under ## Quick start"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    pip = next(i for i, line in enumerate(lines) if line.startswith("pip install"))
    before = " ".join(lines[:pip])
    venv = re.search(r"python3 -m venv (\S+) && \. (\S+)/bin/activate", before)
    assert venv and venv.group(1) == venv.group(2), "make a venv and activate it first"
