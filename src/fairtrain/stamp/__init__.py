"""File protection: invisible and visible watermarks, XMP/IPTC rights, C2PA manifests, text canaries and
verification of suspect copies. Modules: ``watermark``, ``visible``, ``xmp``, ``pki``, ``provenance``,
``canary``, ``service`` (protecting assets) and ``verify``."""
