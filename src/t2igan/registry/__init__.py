"""The MLflow registry side: the served pyfunc model, lineage tags, and the promotion policy."""
