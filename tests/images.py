"""The synthetic images the tests use; they live in `bench` so the load benchmark shares them."""

from bench.images import PALETTE, encode, jpeg, scene

__all__ = ["PALETTE", "encode", "jpeg", "scene"]
