"""itscm-check: evaluate an IT service continuity inventory against continuity policies."""

__version__ = "0.1.0"
