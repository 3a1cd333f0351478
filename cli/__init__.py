"""The `lookalike` command line: puts embedder, index, api and workers together."""
