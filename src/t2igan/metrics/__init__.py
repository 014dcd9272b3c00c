"""Evaluation: a registry of metrics (FID, KID, text alignment, memorization) over one shared context."""
