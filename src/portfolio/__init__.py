"""portfolio: a self-hosted crypto portfolio tracker served as an async REST API."""

__version__ = "0.1.0"
