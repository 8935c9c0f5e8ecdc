"""One sub-package per technology; each translates its failures into domain errors."""
