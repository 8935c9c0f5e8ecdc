"""Use cases: they take ports as constructor arguments and own ordering and transactions."""
