"""Pure domain: value objects, aggregates, portfolio math and domain errors. No I/O."""
