"""Every path, module and test the docs cite exists: a renamed test or a moved module
must not leave the invariant table or the README pointing at nothing (issue 26)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "tests" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# A backticked span naming a file of the repository (tests/README.md names test files
# from tests/, as `unit/test_x.py`), then any `::name` parts, or a span that is only
# `::name`: a test of the file named last.
SPAN = re.compile(r"`([^`\n]+)`")
TIERS = ["unit", "component", "integration", "hostile", "chaos", "docker"]
TOP = ["node", "cluster", "tests", "docs", "ci", "proto", "topology", "examples"]
FILE = re.compile(rf"^((?:{'|'.join(TOP + TIERS)})/[\w./-]*\.[a-z]+)((?:::\w+)*)")


def _cited(doc: Path) -> list[tuple[str, str | None]]:
    """(path, name or None) for every file and test ``doc`` cites."""
    cited: list[tuple[str, str | None]] = []
    text = doc.read_text()
    for target in LINK.findall(text):
        if "://" not in target and not target.startswith("mailto:"):
            cited.append((os.path.relpath(doc.parent / target, ROOT), None))
    last = None
    for span in SPAN.findall(text):
        if span.startswith("::") and last is not None:
            cited += [(last, name) for name in span.split("::") if name]
            continue
        match = FILE.match(span)
        if match is None:
            continue
        path = match.group(1)
        last = f"tests/{path}" if path.split("/")[0] in TIERS else path
        cited.append((last, None))
        cited += [(last, name) for name in match.group(2).split("::") if name]
    return cited


def _missing(doc: Path) -> list[str]:
    missing = []
    for path, name in _cited(doc):
        target = ROOT / path
        if not target.exists():
            missing.append(path)
        elif name and not re.search(rf"\b(?:def|class) {name}\b", target.read_text()):
            missing.append(f"{path}::{name}")
    return missing


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_and_test_a_doc_cites_exists(doc: Path):
    missing = _missing(doc)
    assert not missing, f"{doc.relative_to(ROOT)} cites what does not exist: {missing}"


def test_the_check_sees_a_missing_test_a_missing_file_and_a_broken_link(tmp_path: Path):
    fake = tmp_path / "x.md"
    fake.write_text(
        "`unit/test_store.py::test_no_such_test` and `::test_batch_is_atomic_one_writebatch`, "
        "`node/no_such.py`, `node/storage/store.py`, [gone](no-such-page.md)"
    )
    assert _missing(fake) == [
        os.path.relpath(tmp_path / "no-such-page.md", ROOT),
        "tests/unit/test_store.py::test_no_such_test",
        "node/no_such.py",
    ]
