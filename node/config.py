"""Node configuration: a YAML file, overridable by CLI flags and environment.

Peers can come from the file, from ``--peer name=host:port`` flags or from
``REMESH_PEERS=node-b=127.0.0.1:9702,node-c=...`` (manual, config or env
discovery). Every error names the file and field and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
DURABILITY = ("buffered", "sync")


class ConfigError(ValueError):
    """A configuration problem a person can fix; the message says where and what."""


@dataclass
class NodeConfig:
    node_id: str
    data_dir: Path
    cluster: str = "default"
    tenant: str = "default"
    listen: str = "127.0.0.1:0"
    peers: dict[str, str] = field(default_factory=dict)
    durability: str = "buffered"
    max_key_bytes: int = 4096
    max_value_bytes: int = 1 << 20
    max_batch_entries: int = 1000
    heartbeat_ms: int = 200
    link_timeout_ms: int = 1500
    backoff_max_ms: int = 1000
    watermark_every_entries: int = 10_000
    watermark_every_ms: int = 500
    # After sending a batch, a stream waits this long so the next few commits share
    # one message: under load it cuts per-message cost, which is what bounds latency.
    linger_ms: float = 1.0
    log_level: str = "INFO"

    def validate(self, source: str = "config") -> NodeConfig:
        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(
                f"{source}: {name}: expected {expected}, got {getattr(self, name)!r}"
            )

        for name in ("node_id", "cluster", "tenant"):
            value = getattr(self, name)
            if not isinstance(value, str) or not NAME_RE.match(value):
                raise bad(name, "a name of lowercase letters, digits, '-', '_', '.' (max 63)")
        if self.durability not in DURABILITY:
            raise bad("durability", " or ".join(DURABILITY))
        for name in (
            "max_key_bytes",
            "max_value_bytes",
            "max_batch_entries",
            "heartbeat_ms",
            "link_timeout_ms",
            "backoff_max_ms",
            "watermark_every_entries",
            "watermark_every_ms",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(name, "a positive integer")
        if (
            not isinstance(self.linger_ms, (int, float))
            or isinstance(self.linger_ms, bool)
            or not 0 <= self.linger_ms <= 100
        ):
            raise bad("linger_ms", "a number of milliseconds from 0 to 100")
        if self.link_timeout_ms <= self.heartbeat_ms:
            raise bad("link_timeout_ms", f"more than heartbeat_ms ({self.heartbeat_ms})")
        parse_address(self.listen, f"{source}: listen")
        for peer, address in self.peers.items():
            if not NAME_RE.match(peer):
                raise ConfigError(f"{source}: peers: bad peer name {peer!r}")
            if peer == self.node_id:
                raise ConfigError(f"{source}: peers: {peer!r} is this node itself")
            parse_address(address, f"{source}: peers.{peer}")
        self.data_dir = Path(self.data_dir)
        return self


def parse_address(address: str, where: str) -> tuple[str, int]:
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where}: expected host:port, got {address!r}")
    return host, int(port)


def parse_peers(text: str, where: str = "REMESH_PEERS") -> dict[str, str]:
    """Parse ``name=host:port,name=host:port``."""
    peers: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, address = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"{where}: expected name=host:port, got {item!r}")
        parse_address(address, f"{where}: {name}")
        peers[name] = address
    return peers


def load_config(path: str | Path, **overrides: Any) -> NodeConfig:
    """Load a node YAML file; ``overrides`` (not None) win over the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    known = {f.name for f in fields(NodeConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    raw.update({k: v for k, v in overrides.items() if v is not None})
    for required in ("node_id", "data_dir"):
        if required not in raw:
            raise ConfigError(f"{path}: {required}: required")
    raw["peers"] = dict(raw.get("peers") or {})
    data_dir = Path(raw["data_dir"])
    if not data_dir.is_absolute():
        raw["data_dir"] = path.parent / data_dir
    return NodeConfig(**raw).validate(str(path))
