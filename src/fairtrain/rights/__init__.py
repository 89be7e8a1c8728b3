"""Layer 2: one rights policy and its renderings, and the crawler registry."""
