"""The node image is built locally, tagged by content, and rebuilt only when that changes."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from cluster.backends.docker import image as docker_image
from cluster.backends.docker.image import ImageError, ImageInfo, build_image

# Generous: on a cold machine the first test on a worker builds the base (60-90 s).
pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def test_image_is_built_locally_with_a_content_tag(
    docker_engine: Any, node_image: ImageInfo, labels: dict[str, str]
):
    assert node_image.tag.startswith("remesh-node:")
    image = docker_engine.images.get(node_image.tag)
    assert image.labels.get(docker_image.LABEL) == "node"
    assert image.attrs["Config"]["Entrypoint"] == ["python", "-m", "node"]
    # The runtime is the image's own: the wheels installed into its venv import there.
    out = docker_engine.containers.run(
        node_image.tag,
        entrypoint=["python", "-c", "import grpc, plyvel, yaml, pydantic, node.pb; print('ok')"],
        labels=labels,
        remove=True,
    )
    assert out.strip() == b"ok"


def test_second_build_is_a_no_op(docker_engine: Any, node_image: ImageInfo):
    again = build_image(client=docker_engine)
    assert again == ImageInfo(node_image.tag, again.seconds, built=False)
    assert again.seconds < 10, f"a no-op build took {again.seconds:.1f}s"


def test_source_change_rebuilds_only_the_source_layer(
    docker_engine: Any,
    node_image: ImageInfo,
    labels: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    project = tmp_path / "project"
    shutil.copytree(docker_image.PROJECT / "node", project / "node")
    for source in docker_image.PROXY_SOURCES:
        src, dest = docker_image.PROJECT / source, project / source
        dest.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest)
    shutil.copy2(docker_image.PROJECT / "pyproject.toml", project / "pyproject.toml")
    marker = uuid.uuid4().hex
    (project / "node" / "_probe.py").write_text(f"MARKER = {marker!r}\n")
    monkeypatch.setattr(docker_image, "PROJECT", project)
    info = build_image(client=docker_engine)
    try:
        assert info.built and info.tag != node_image.tag
        base_layers = docker_engine.images.get(node_image.tag).attrs["RootFS"]["Layers"]
        layers = docker_engine.images.get(info.tag).attrs["RootFS"]["Layers"]
        assert layers[:-1] == base_layers[:-1], "only the last (source) layer may differ"
        out = docker_engine.containers.run(
            info.tag,
            entrypoint=["python", "-c", "import node._probe as p; print(p.MARKER)"],
            labels=labels,
            remove=True,
        )
        assert out.decode().strip() == marker
        print(f"source-only rebuild: {info.seconds:.1f}s")
    finally:
        docker_engine.images.remove(info.tag)


def test_no_engine_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(ImageError, match=r"no Docker engine at unix://.*ci/dockerd start"):
        build_image()
