"""The Docker ``Backend``: a cluster's nodes and link proxy as containers of the node image.

- ``engine``: the client, labels and names, ``docker.json`` (id, image, specs, ports);
- ``containers``: a ``ProcessSpec`` as create arguments, and the files shipped into it;
- ``backend``: ``DockerBackend``, the ``Backend`` protocol on top of them;
- ``sweep``: ``cluster gc``, removing what crashed or purged runs left, by label.
"""

from cluster.backends.docker.backend import DockerBackend

__all__ = ["DockerBackend"]
