"""Evaluation metrics: FID on TF-Inception features, and text alignment (attribute judge)."""
