"""fairtrain: protect creative work from AI scrapers, license it to AI companies, get paid."""

__version__ = "0.1.0"

__all__ = ["__version__"]
