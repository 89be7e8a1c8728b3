"""Layer 1: the catalogue of works a creator owns: import, media probing, fingerprints, duplicates."""
