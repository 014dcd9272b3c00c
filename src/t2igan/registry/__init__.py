"""The MLflow registry side: publishing a model, its aliases and their history, the promotion policy."""
