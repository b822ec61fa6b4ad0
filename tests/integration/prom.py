"""A real Prometheus server for a test: started on a free port with its own storage,
asked through its HTTP API, stopped at teardown."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cluster.ports import free_ports
from cluster.wait import wait_for

INSTALL = "ci/install-prometheus (root: Debian's prometheus package)"


class Prometheus:
    def __init__(self, config: Path, workdir: Path) -> None:
        binary = shutil.which("prometheus")
        if binary is None:  # CI installs it: a missing server is a failure, never a skip
            pytest.fail(f"prometheus is not installed: run {INSTALL}")
        self.port = free_ports(1)[0]
        self.log = workdir / "prometheus.log"
        self._log = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, 60, "prometheus to answer /-/ready", fatal=(RuntimeError,))

    def _alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"prometheus exited ({self.proc.returncode}): {self.log_tail()}")

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return r.read()

    def _ready(self) -> bool:
        self._alive()
        return b"Ready" in self._get("/-/ready")

    def api(self, path: str, **params: str) -> Any:
        self._alive()
        query = urllib.parse.urlencode(params)
        answer = json.loads(self._get(f"/api/v1/{path}" + (f"?{query}" if query else "")))
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query's vector: ``{sorted labels: value}``."""
        data = self.api("query", query=promql)
        return {
            tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data["result"]
        }

    def targets_up(self) -> dict[str, str]:
        """``{node label: health}`` of every active target."""
        return {
            t["labels"].get("node", t["scrapeUrl"]): t["health"]
            for t in self.api("targets")["activeTargets"]
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
