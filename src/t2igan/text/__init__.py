"""Text encoders (any Hugging Face AutoModel), the content-addressed caches, and the embeddings' files."""
