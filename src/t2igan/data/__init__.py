"""Datasets in, one manifest out: the synthetic set, importers, safe image decoding, the image store."""
