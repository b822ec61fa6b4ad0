"""What runs a cluster's processes: the ``Backend`` protocol and its implementations.

``base`` holds the protocol and the generic ``ProcessSpec``/``ProcessInfo``;
``registry`` every backend by name with its traits (nothing outside this package names
one); ``select`` the backend of a cluster's state directory; ``supervisor`` is the
supervisord implementation, ``docker`` the container one; ``procfs`` reads local
processes from /proc for any backend that runs them on this machine.
"""
