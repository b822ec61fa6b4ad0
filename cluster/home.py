"""Where clusters' state lives, so every verb finds the cluster from any directory.

In this order: ``--home DIR``; ``$REMESH_HOME``; ``./.cluster`` when the current directory
has one (a checkout's own clusters win); else the per-user home
``$XDG_STATE_HOME/remesh`` (``~/.local/state/remesh``), as ccm keeps ``~/.ccm``. Errors
that find no cluster say which of these they looked in and how to point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

LOCAL = ".cluster"


def user_home() -> Path:
    """The per-user home; XDG says a relative ``XDG_STATE_HOME`` is to be ignored."""
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "remesh"


def default_home() -> Path:
    """The home a verb uses without ``--home``."""
    env = os.environ.get("REMESH_HOME")
    if env:
        return Path(env).absolute()
    local = Path(LOCAL)
    return local.absolute() if local.is_dir() else user_home()


def home_of(home: Path | str | None) -> Path:
    """``--home`` (or the library's ``home=``) when given, else the default."""
    return Path(home).absolute() if home else default_home()


def why(home: Path) -> str:
    """How ``home`` came to be the one looked in, for an error that found nothing there."""
    env = os.environ.get("REMESH_HOME")
    if env and Path(env).absolute() == home:
        return "$REMESH_HOME"
    if home == Path(LOCAL).absolute():
        return "./.cluster of the current directory, used first when it exists"
    if home == user_home():
        return f"the per-user home: no ./.cluster in {Path.cwd()}, no $REMESH_HOME"
    return "--home"


def pointer() -> str:
    """How to look elsewhere."""
    return (
        "point at the state directory with --home DIR or REMESH_HOME=DIR "
        "(`cluster up` prints where it keeps a cluster's state)"
    )
