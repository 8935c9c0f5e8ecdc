"""The composition root: builds every adapter from Settings, wires the services and serves the
API (``uvicorn --factory portfolio.main.app:create_app``). The only package that reads Settings
and picks adapters; nothing imports it."""
