"""portfolio: a self-hosted crypto portfolio tracker served as an async REST API."""

# The one place the version is written: the package, the OpenAPI document (info.version) and
# the build_info metric take it from here. CHANGELOG.md says what each version changed.
__version__ = "0.3.0"
