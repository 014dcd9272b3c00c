"""t2igan's tests: tests/unit mirrors src/t2igan (and flows/); tests/integration starts the real tools."""
