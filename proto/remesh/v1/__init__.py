"""The wire schema, installed as the package ``node.proto`` (see pyproject.toml), so an
installed remesh carries ``remesh.proto`` for clients in other languages."""
