"""Text encoders (any Hugging Face AutoModel) and the content-addressed embedding cache."""
