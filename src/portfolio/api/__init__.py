"""HTTP: the app factory, the composition root, routers, schemas, errors and middleware."""
