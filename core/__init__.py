"""Lookalike's engine: scan, decode, embed, catalog, search. No Qt here."""

__version__ = "0.1.0"
