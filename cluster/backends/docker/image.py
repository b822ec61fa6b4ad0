"""Build the node image locally: no registry is reachable here, so nothing is ever pulled.

Three layers, each cached on its own so the common case is cheap:

1. **Base** — Debian's ``minbase`` with python3, python3-venv and iptables, made by
   ``mmdebstrap`` from the mirror in the machine's apt sources into a tarball in a private
   per-user cache (once, 60-90 s), then ``docker import``-ed as ``remesh-base:<sha>``.
2. **Wheels** — the node's runtime dependencies, read from ``pyproject.toml``
   ``[project].dependencies`` (less host-only tools such as supervisor), downloaded by the
   host's pip as manylinux wheels for the image's Python and installed with
   ``pip install --no-index`` inside the build: the build itself needs no network (pip in
   a container fails on this machine's TLS interception anyway).
3. **Source** — the ``node`` package, copied last so a code change rebuilds one thin layer.

The image is tagged ``remesh-node:<hash>`` of base, wheels, source and Dockerfile, so an
unchanged setup is a lookup, not a build. Every failure a person can fix is an
:class:`ImageError` whose message names the fix; callers print it, never a traceback.
The engine is the one ``DOCKER_HOST`` names (default: the local socket).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.backends.base import BackendError

PROJECT = Path(__file__).resolve().parents[3]
SUITE = "bookworm"  # its python3 is 3.11: the wheels below must match it
PYTHON_VERSION = "3.11"
# Host-side only: the node runs without them (supervisor manages host processes;
# cryptography makes certificates, which a node only reads).
NOT_IN_IMAGE = frozenset({"supervisor", "cryptography"})
BASE_PACKAGES = ("python3", "python3-venv", "iptables")  # iptables: per-peer cuts in-container
# Docs, man pages and locales are most of a minbase's bytes and no node reads them.
DPKG_EXCLUDES = tuple(
    "path-exclude=/usr/share/man/* path-exclude=/usr/share/doc/* "
    "path-include=/usr/share/doc/*/copyright path-exclude=/usr/share/info/* "
    "path-exclude=/usr/share/locale/* path-include=/usr/share/locale/locale.alias".split()
)
# The link proxy (standard library only) runs from the node image too: these go in beside node/.
PROXY_SOURCES = ("cluster/__init__.py", "cluster/files.py", "cluster/faults")
NODE_PORT = 7000
NODE_UID = 10001
LABEL = "remesh.image"
Progress = Callable[[str], None]


class ImageError(RuntimeError):
    """The image could not be built; the message says what to do about it."""


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`build_image` produced: the tag to run, how long it took, and whether a
    build happened (False: an image with that content hash was already there)."""

    tag: str
    seconds: float
    built: bool


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def docker_client() -> Any:
    """A client for the engine ``DOCKER_HOST`` names, or an :class:`ImageError` saying how
    to get one: a missing engine is the most common first-run failure."""
    try:
        import docker
    except ImportError:
        raise ImageError(
            "the Python package 'docker' is missing: pip install -e '.[docker]'"
        ) from None
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as exc:
        raise ImageError(
            f"no Docker engine at {docker_host()}: start one (ci/dockerd start) or set "
            f"DOCKER_HOST ({_first_line(exc)})"
        ) from None
    return client


def cache_dir() -> Path:
    """The per-user cache (0700: it holds what this user downloaded and built)."""
    path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "remesh"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise builders (pytest-xdist workers, two shells) on one cache."""
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---- base: mmdebstrap tarball -> docker import ------------------------------------------


def _apt_entries() -> Iterator[tuple[list[str], list[str], list[str], str]]:
    """(URIs, suites, components, signed-by) of each ``deb`` source, one-line or deb822."""
    d = Path("/etc/apt/sources.list.d")
    for f in [Path("/etc/apt/sources.list"), *sorted(d.glob("*.list"))]:
        for line in f.read_text().splitlines() if f.is_file() else []:
            if m := re.match(r"\s*deb\s+(?:\[([^]]*)\]\s+)?(\S+)\s+(\S+)\s+([^#]*)", line):
                key = re.search(r"signed-by=(\S+)", m[1] or "")
                yield [m[2]], [m[3]], m[4].split(), key[1] if key else ""
    for f in sorted(d.glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text()):
            pairs = (line.partition(":") for line in stanza.splitlines())
            kv = {k.strip().lower(): v.strip() for k, _, v in pairs if v and k[:1] != "#"}
            if "deb" in kv.get("types", "").split() and kv.get("enabled") != "no":
                uris, suites, comps = (
                    kv.get(k, "").split() for k in ("uris", "suites", "components")
                )
                yield uris, suites, comps, kv.get("signed-by", "")


def apt_mirrors() -> list[str]:
    """One-line ``deb`` entries for :data:`SUITE` (and its -updates/-security) made from the
    machine's own apt sources: the mirror this machine is set up to use, never a
    hard-coded host."""
    release = Path("/etc/os-release")
    m = re.search(r"^VERSION_CODENAME=(\w+)", release.read_text() if release.exists() else "", re.M)
    codename = m[1] if m else SUITE
    lines = []
    for uris, suites, comps, key in _apt_entries():
        opts = f"[signed-by={key}] " if key.startswith("/") and Path(key).is_file() else ""
        for suite in suites:
            if "main" in comps and suite.split("-")[0] == codename:
                tail = suite[len(codename) :]
                lines += [f"deb {opts}{uri} {SUITE}{tail} main" for uri in uris]
    if not lines:
        raise ImageError(
            f"no Debian '{codename}' main entry in /etc/apt/sources.list(.d): the base image "
            "is built from the machine's apt mirror; add one"
        )
    return lines


def base_tarball(progress: Progress) -> tuple[Path, str]:
    """The cached base tarball and its sha256; made by mmdebstrap when missing (retried
    once: a transient fetch failure was seen on these machines)."""
    mirrors = apt_mirrors()
    arch = _debian_arch()
    recipe = "\n".join([SUITE, arch, *BASE_PACKAGES, *DPKG_EXCLUDES, *mirrors])
    name = f"base-{SUITE}-{arch}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
    tar, sha = cache_dir() / f"{name}.tar", cache_dir() / f"{name}.tar.sha256"
    if tar.is_file() and sha.is_file():
        return tar, sha.read_text().strip()
    if shutil.which("mmdebstrap") is None:
        raise ImageError(
            "mmdebstrap is not installed (it builds the base image from Debian's archive): "
            "run ci/install-docker or apt-get install mmdebstrap"
        )
    part = Path(f"{tar}.part.tar")  # mmdebstrap picks the format from the name
    cmd = ["mmdebstrap", "--quiet", "--variant=minbase", f"--architectures={arch}"]
    cmd += [f"--include={','.join(BASE_PACKAGES)}", '--aptopt=Acquire::Languages "none"']
    cmd += [*(f"--dpkgopt={opt}" for opt in DPKG_EXCLUDES), SUITE, str(part), *mirrors]
    progress(f"building the base image with mmdebstrap from {mirrors[0].split()[-3]} (once)")
    for attempt in (1, 2):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            break
        part.unlink(missing_ok=True)
        progress(f"mmdebstrap failed (attempt {attempt}): {proc.stderr.strip()[-300:]}")
    else:
        raise ImageError(
            "mmdebstrap could not build the base image twice; check that the apt mirror in "
            f"/etc/apt/sources.list(.d) answers (apt-get update). Last error:\n"
            f"{proc.stderr.strip()[-1500:]}"
        )
    part.chmod(0o600)
    digest = _sha256_file(part)
    os.replace(part, tar)
    sha.write_text(digest + "\n")
    return tar, digest


def _debian_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def base_image(client: Any, progress: Progress) -> str:
    """``remesh-base:<sha>`` in the engine, imported from the cached tarball if missing."""
    tar, digest = base_tarball(progress)
    tag = f"remesh-base:{digest[:16]}"
    if not _image_exists(client, tag):
        progress(f"importing {tar.name} as {tag}")
        client.api.import_image_from_file(
            str(tar), repository="remesh-base", tag=digest[:16], changes=[f"LABEL {LABEL}=base"]
        )
    return tag


def _image_exists(client: Any, tag: str) -> bool:
    return bool(client.images.list(name=tag))


# ---- wheels: pip download on the host ----------------------------------------------------


def runtime_requirements(pyproject: Path | None = None) -> list[str]:
    """``[project].dependencies`` less the host-only ones: the node's runtime, exactly."""
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]  # 3.11+
    except ModuleNotFoundError:  # Python 3.10: the installed metadata says the same
        from importlib.metadata import requires

        deps = [r for r in requires("remesh") or [] if "extra ==" not in r]
    else:
        text = (pyproject or PROJECT / "pyproject.toml").read_text()
        deps = tomllib.loads(text)["project"]["dependencies"]
    return sorted(d for d in deps if _req_name(d) not in NOT_IN_IMAGE)


def _req_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def wheel_platforms() -> list[str]:
    """manylinux tags the image's glibc (2.36 in bookworm) accepts, newest first."""
    arch = platform.machine()
    return [f"manylinux_2_{n}_{arch}" for n in range(36, 16, -1)] + [f"manylinux2014_{arch}"]


def wheels(requirements: list[str], progress: Progress) -> tuple[Path, str]:
    """A cached directory of wheels for ``requirements`` and the hash of its contents.
    Keyed by the requirements, so a dependency change downloads again and nothing else
    does (delete the cache directory to pick up newer releases)."""
    recipe = "\n".join([PYTHON_VERSION, *wheel_platforms(), *requirements])
    dest = cache_dir() / f"wheels-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
    done = dest / ".complete"
    if not done.is_file():
        progress(f"downloading wheels for Python {PYTHON_VERSION}: {' '.join(requirements)}")
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(mode=0o700)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"]
        cmd += ["--python-version", PYTHON_VERSION, "--implementation", "cp"]
        cmd += [arg for p in wheel_platforms() for arg in ("--platform", p)]
        proc = subprocess.run(
            [*cmd, "--dest", str(dest), *requirements], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise ImageError(
                "pip could not download the node's wheels (needs the package index once; "
                f"later builds use {dest.parent}):\n{proc.stderr.strip()[-1500:]}"
            )
        digest = hashlib.sha256()
        for whl in sorted(dest.glob("*.whl")):
            digest.update(f"{whl.name} {_sha256_file(whl)}\n".encode())
        done.write_text(digest.hexdigest() + "\n")
    return dest, done.read_text().strip()


# ---- the node image ----------------------------------------------------------------------


def dockerfile(base: str, requirements: list[str]) -> str:
    reqs = " ".join(f"'{r}'" for r in requirements)
    return f"""\
FROM {base}
ENV LANG=C.UTF-8 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \\
    PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONPATH=/app
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --quiet --no-index --no-cache-dir --find-links /tmp/wheels \\
    {reqs} \\
 && rm -rf /tmp/wheels \\
 && mkdir -p /data /etc/remesh && chown {NODE_UID}:{NODE_UID} /data \\
 && printf 'node_id: node\\ndata_dir: /data\\nlisten: 0.0.0.0:{NODE_PORT}\\n' \\
    > /etc/remesh/node.yaml
EXPOSE {NODE_PORT}
USER {NODE_UID}:{NODE_UID}
WORKDIR /app
ENTRYPOINT ["python", "-m", "node"]
CMD ["--config", "/etc/remesh/node.yaml"]
COPY cluster/ /app/cluster/
COPY node/ /app/node/
"""


def _source_files() -> list[Path]:
    """The ``node`` package as it would be imported (generated ``node/pb`` included), and
    the link proxy's modules (``PROXY_SOURCES``: it runs from the same image)."""
    roots = [PROJECT / "node", *(PROJECT / p for p in PROXY_SOURCES)]
    files = (f for r in roots for f in ([r] if r.is_file() else r.rglob("*")) if f.is_file())
    return sorted(p for p in files if "__pycache__" not in p.parts and p.suffix != ".pyc")


def _content_hash(base: str, wheel_hash: str, text: str, sources: list[Path]) -> str:
    digest = hashlib.sha256(f"{base}\n{wheel_hash}\n{text}\n".encode())
    for path in sources:
        digest.update(f"{path.relative_to(PROJECT)}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _context(dest: Path, text: str, wheel_dir: Path, sources: list[Path]) -> None:
    (dest / "Dockerfile").write_text(text)
    (dest / "wheels").mkdir()
    for whl in wheel_dir.glob("*.whl"):
        try:  # same filesystem as the cache: a link, not a 30 MB copy
            os.link(whl, dest / "wheels" / whl.name)
        except OSError:
            shutil.copy2(whl, dest / "wheels" / whl.name)
    for path in sources:
        target = dest / path.relative_to(PROJECT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        target.chmod(0o644)  # readable by the image's non-root user
    for top in (dest / "node", dest / "cluster"):
        for d in (top, *(p for p in top.rglob("*") if p.is_dir())):
            d.chmod(0o755)


def build_image(progress: Progress | None = None, client: Any = None) -> ImageInfo:
    """Make sure ``remesh-node:<content hash>`` exists in the engine; build what is missing.

    Returns at once (``built=False``) when base, wheels, source and Dockerfile are
    unchanged. Raises :class:`ImageError` for anything a person must fix.
    """
    say: Progress = progress or (lambda _msg: None)
    started = time.monotonic()
    client = client or docker_client()
    import docker
    import requests  # the SDK's transport: an engine gone mid-build raises its errors

    try:
        with _locked(cache_dir() / "build.lock"):
            base = base_image(client, say)
            requirements = runtime_requirements()
            wheel_dir, wheel_hash = wheels(requirements, say)
            text = dockerfile(base, requirements)
            sources = _source_files()
            tag = f"remesh-node:{_content_hash(base, wheel_hash, text, sources)}"
            if _image_exists(client, tag):
                return ImageInfo(tag, time.monotonic() - started, built=False)
            say(f"building {tag}")
            with tempfile.TemporaryDirectory(prefix="context-", dir=cache_dir()) as ctx:
                _context(Path(ctx), text, wheel_dir, sources)
                client.images.build(
                    path=ctx, tag=tag, rm=True, forcerm=True, pull=False, labels={LABEL: "node"}
                )
    except docker.errors.BuildError as exc:
        log = "".join(str(c.get("stream", c.get("error", ""))) for c in exc.build_log)
        log = re.sub(r"\x1b\[[0-9;]*m", "", log)  # the engine colours a step's stderr
        raise ImageError(f"the node image build failed: {exc.msg}\n{log[-2000:]}") from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ImageError(f"Docker engine at {docker_host()}: {_first_line(exc)}") from None
    except OSError as exc:
        raise ImageError(f"building the node image: {exc}") from None
    return ImageInfo(tag, time.monotonic() - started, built=True)


def prepare(progress: Callable[[str], None]) -> str | None:
    """The Docker backend's ``prepare`` (``cluster.backends.registry``): the node image,
    built if missing before ``up``; what it did, or None when it was there."""
    try:
        info = build_image(progress=progress)
    except ImageError as exc:
        raise BackendError(str(exc)) from None
    return f"image {info.tag} built in {info.seconds:.1f}s" if info.built else None


def main() -> int:
    """``python -m cluster.backends.docker``: build (or find) the node image, print its tag."""
    started = time.monotonic()

    def progress(msg: str) -> None:  # elapsed time first: the gaps are the phases' timings
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", file=sys.stderr)

    try:
        info = build_image(progress=progress)
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = f"built in {info.seconds:.1f} s" if info.built else f"up to date ({info.seconds:.1f} s)"
    print(f"{info.tag} {state}")
    return 0
