"""Hostile catalogue: the node runner's security flags as people mistype them. Each case:
exit 2, a message that says what to fix, no traceback, and nothing created (the node
never opened its data directory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.component

GOOD = "g" * 64


def files(tmp: Path) -> dict[str, Path]:
    made = {
        "short": "abc\n",
        "spaced": "a" * 20 + " " + "b" * 20,
        "accented": "é" * 20,
        "good": GOOD,
        "not-pem": "hello",
    }
    out = {}
    for name, text in made.items():
        out[name] = tmp / name
        out[name].write_text(text)
    return out


CASES = [
    ("no token at all", [], {}, "no token: pass --token-file FILE (or set REMESH_TOKEN_FILE)"),
    ("a missing token file", ["--token-file", "{tmp}/nope"], {}, "cannot read the token file"),
    ("a token file that is a directory", ["--token-file", "{tmp}"], {}, "cannot read the token"),
    ("a short token", ["--token-file", "{short}"], {}, "expected 16 to 1024 characters, got 3"),
    ("a token with a space", ["--token-file", "{spaced}"], {}, "expected printable ASCII"),
    ("a token not ASCII", ["--token-file", "{accented}"], {}, "expected printable ASCII"),
    ("REMESH_TOKEN_FILE naming nothing", [], {"REMESH_TOKEN_FILE": "{tmp}/nope"}, "cannot read"),
    ("a token and --no-auth", ["--token-file", "{good}", "--no-auth"], {}, "pick one"),
    (
        "a certificate without its key and CA",
        ["--token-file", "{good}", "--tls-cert", "{not-pem}"],
        {},
        "--tls-cert, --tls-key and --tls-ca go together",
    ),
    (
        "TLS files that are not PEM",
        [
            *("--token-file", "{good}", "--tls-cert", "{not-pem}"),
            *("--tls-key", "{not-pem}", "--tls-ca", "{not-pem}"),
        ],
        {},
        "expected a PEM file holding a certificate",
    ),
]


@pytest.mark.parametrize(("case", "args", "env", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_security_flags_exit_2_and_start_nothing(tmp_path, case, args, env, message):
    paths = {k.replace("-", "_"): str(v) for k, v in files(tmp_path).items()}
    paths["tmp"] = str(tmp_path)

    def fill(text: str) -> str:
        return text.replace("{not-pem}", "{not_pem}").format(**paths)

    config = tmp_path / "node.yaml"
    config.write_text(yaml.safe_dump({"node_id": "node-a", "data_dir": "data"}))
    environ = {k: v for k, v in os.environ.items() if k != "REMESH_TOKEN_FILE"}
    p = subprocess.run(
        [sys.executable, "-m", "node", "--config", str(config), *map(fill, args)],
        env={**environ, **{k: fill(v) for k, v in env.items()}},
        capture_output=True,
        timeout=60,
    )
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert message in err and "Traceback" not in err
    assert GOOD not in err
    assert not (tmp_path / "data").exists()
