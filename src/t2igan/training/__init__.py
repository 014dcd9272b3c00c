"""Training: the step, the loop and its bookkeeping, resume, checkpoints, the run's record, its outputs."""
