"""keytrail's version, in one place (``pyproject.toml`` reads it; so do the modules that stamp it)."""

__version__ = "0.1.0"
