"""Node configuration: a YAML file, overridable by CLI flags and environment.

A node's config is its identity (name, cluster, tenant, listen address, data
directory, peers) plus the settings of ``node.settings``, the one schema the
cluster tool's topology files use too. Peers can come from the file, from
``--peer name=host:port`` flags or from ``REMESH_PEERS=node-b=127.0.0.1:9702,...``
(manual, config or env discovery). Every error names the file and field and
what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from node.settings import NAME_RE, NAME_RULE, Name, NodeSettings, bounds

__all__ = [
    "NAME_RE",
    "ConfigError",
    "NodeConfig",
    "load_config",
    "parse_address",
    "parse_peers",
]


class ConfigError(ValueError):
    """A configuration problem a person can fix; the message says where and what."""


class NodeConfig(NodeSettings):
    """One replica's configuration; construction validates every field and setting."""

    model_config = ConfigDict(frozen=False)

    node_id: Name
    data_dir: Path = Field(strict=False)  # a str from YAML is a path
    cluster: Name = "default"
    tenant: Name = "default"
    listen: str = "127.0.0.1:0"
    metrics_listen: str = ""  # host:port for Prometheus' /metrics; "" serves none
    peers: dict[str, str] = Field(default_factory=dict)
    log_level: str = "INFO"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(describe(exc, "config")) from None

    def validate(self, source: str = "config") -> NodeConfig:  # type: ignore[override]
        """Check what one field alone cannot: addresses and peers. Returns self."""
        parse_address(self.listen, f"{source}: listen")
        if self.metrics_listen:
            parse_address(self.metrics_listen, f"{source}: metrics_listen")
        for peer, address in self.peers.items():
            if not NAME_RE.match(peer):
                raise ConfigError(f"{source}: peers: bad peer name {peer!r}")
            if peer == self.node_id:
                raise ConfigError(f"{source}: peers: {peer!r} is this node itself")
            parse_address(address, f"{source}: peers.{peer}")
        return self


def describe(exc: ValidationError, source: str) -> str:
    """The first problem as ``source: field: expected X, got Y``."""
    e = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in e["loc"]) or "config"
    if e["type"] == "missing":
        return f"{source}: {field}: required"
    if e["type"] == "extra_forbidden":
        return f"{source}: {field}: unknown setting"
    if e["type"] == "link_timeout":
        ctx = e.get("ctx") or {}
        return (
            f"{source}: link_timeout_ms: expected more than heartbeat_ms ({ctx['h']}), "
            f"got {ctx['t']!r}"
        )
    return f"{source}: {field}: expected {_expected(field, e)}, got {e.get('input')!r}"


def _expected(field: str, e: ErrorDetails) -> str:
    if e["type"] == "string_pattern_mismatch" or field in ("node_id", "cluster", "tenant"):
        return f"a name of {NAME_RULE}"
    if e["type"] == "literal_error":
        return str((e.get("ctx") or {})["expected"]).replace("'", "")
    if field in NodeSettings.model_fields and field != "durability":
        low, high = bounds(field)
        if NodeSettings.model_fields[field].annotation is float:
            return f"a number of milliseconds from {low} to {high}"
        if low == 1:
            return f"a positive integer up to {high}"
        return f"an integer from {low} to {high}"
    return e["msg"].lower()


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
    known = set(NodeConfig.model_fields)
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
    raw["data_dir"] = data_dir if data_dir.is_absolute() else path.parent / data_dir
    try:
        config = NodeConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe(exc, str(path))) from None
    return config.validate(str(path))
