"""Tiny real components for tests, tutorials and quick benchmarks.

Everything here builds small models with random (seeded) weights from
configs, so code that loads real pretrained components can be exercised
offline. Nothing in the package itself imports this module.
"""

from ._diffusion import make_tiny_components

__all__ = ["make_tiny_components"]
