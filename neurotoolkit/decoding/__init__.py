"""neurotoolkit.decoding (see DESIGN.md); populated by later issues."""

__all__ = []
