"""``python -m cluster.backends.docker``: build (or find) the node image, print its tag
(what ``cluster image build`` does, without the CLI)."""

import sys

from cluster.backends.docker.image import main

sys.exit(main())
