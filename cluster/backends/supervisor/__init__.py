"""The first ``Backend``: supervisord, controlled over XML-RPC on a unix socket.

- ``conf``: supervisord.conf rendered from programs, and read back;
- ``daemon``: ``Supervisor``, supervisord's lifecycle and its XML-RPC calls;
- ``backend``: ``SupervisorBackend``, the ``Backend`` protocol on top of it.
"""

from cluster.backends.procfs import pid_alive, processes_under
from cluster.backends.supervisor.backend import SupervisorBackend
from cluster.backends.supervisor.conf import Program, SupervisorError
from cluster.backends.supervisor.daemon import Supervisor

__all__ = [
    "Program",
    "Supervisor",
    "SupervisorBackend",
    "SupervisorError",
    "pid_alive",
    "processes_under",
]
