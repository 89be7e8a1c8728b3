"""File protection: invisible and visible watermarks, XMP/IPTC rights, C2PA manifests, text canaries, verify."""
