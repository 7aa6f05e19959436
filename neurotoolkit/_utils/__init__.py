"""Private helpers shared by every subpackage: validation, logging, random
state, optional imports, atomic file writes and the shared docstring pieces."""
