"""The proxy's config (links to listen on and forward to) and its persisted faults file."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.faults.model import Fault, ProxyError, split_link
from cluster.files import atomic_write

log = logging.getLogger("remesh.proxy")


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``) -> (host, port); ValueError says what was expected."""
    host, sep, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected an address 'host:port' with port 1-65535, got {address!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class LinkSpec:
    """One directed link: the proxy listens on ``listen`` and forwards to ``target``."""

    name: str
    listen: str
    target: str


@dataclass(frozen=True)
class ProxyConfig:
    """The proxy process config, a JSON file the cluster tool renders."""

    control: str
    faults_file: Path
    links: tuple[LinkSpec, ...]
    token_file: Path | None = None  # the control port takes this token (cluster.secrets)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "proxy config") -> ProxyConfig:
        def bad(where: str, expected: str, got: Any) -> ProxyError:
            return ProxyError(f"{source}: {where}: expected {expected}, got {got!r}")

        if not isinstance(raw, dict):
            raise bad("top level", "an object with control, faults_file, links", raw)
        for key in ("control", "faults_file"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise bad(key, "a string", raw.get(key))
        try:
            split_address(raw["control"])
        except ValueError as e:
            raise ProxyError(f"{source}: control: {e}") from None
        token_file = raw.get("token_file")
        if token_file is not None and (not isinstance(token_file, str) or not token_file):
            raise bad("token_file", "a file name", token_file)
        if not isinstance(raw.get("links"), list):
            raise bad("links", "a list of {name, listen, target}", raw.get("links"))
        links: list[LinkSpec] = []
        seen: set[str] = {raw["control"]}
        for i, item in enumerate(raw["links"]):
            where = f"links[{i}]"
            if not isinstance(item, dict) or set(item) != {"name", "listen", "target"}:
                raise bad(where, "an object with exactly name, listen, target", item)
            try:
                split_link(item["name"])
                split_address(item["listen"])
                split_address(item["target"])
            except ValueError as e:
                raise ProxyError(f"{source}: {where}: {e}") from None
            if any(link.name == item["name"] for link in links):
                raise bad(f"{where}.name", "a link name not used before", item["name"])
            if item["listen"] in seen:
                raise bad(f"{where}.listen", "an address not used before", item["listen"])
            seen.add(item["listen"])
            links.append(LinkSpec(item["name"], item["listen"], item["target"]))
        token = Path(token_file) if token_file else None
        return cls(raw["control"], Path(raw["faults_file"]), tuple(links), token)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ProxyConfig:
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ProxyError(f"cannot read proxy config {path}: {e}") from None
        return cls.from_dict(raw, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "faults_file": str(self.faults_file),
            "links": [{"name": s.name, "listen": s.listen, "target": s.target} for s in self.links],
            **({"token_file": str(self.token_file)} if self.token_file else {}),
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        atomic_write(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")


def load_faults(path: Path, links: Iterable[str]) -> dict[str, Fault]:
    """Faults saved by an earlier run; a missing file means all ok, a bad one is a warning."""
    faults = {name: Fault() for name in links}
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return faults
    except (OSError, ValueError) as e:
        log.warning("faults file %s unreadable (%s): starting with every link ok", path, e)
        return faults
    saved = raw.get("faults") if isinstance(raw, dict) else None
    if not isinstance(saved, dict):
        log.warning("faults file %s has no 'faults' object: starting with every link ok", path)
        return faults
    for name, spec in saved.items():
        if name not in faults:
            log.warning("faults file %s: link %r is not in the config: ignored", path, name)
            continue
        try:
            faults[name] = Fault().merged(name, spec)
        except ProxyError as e:
            log.warning("faults file %s: %s: link left ok", path, e)
    return faults


def save_faults(path: Path, faults: Mapping[str, Fault]) -> None:
    active = {name: f.to_dict() for name, f in sorted(faults.items()) if not f.is_ok}
    atomic_write(path, json.dumps({"faults": active}, indent=2) + "\n")
