"""Fast tests, one module per module of src/t2igan (and of flows/), in the same packages."""
