"""The training loop, its data feed, and checkpoints."""
