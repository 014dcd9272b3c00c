"""Pretrained vision networks: the packaged FID Inception and any Hugging Face vision checkpoint, frozen.

Below the GAN and the metrics: D judges through one (`train.model.d_backbone`), evaluation measures with them
(FID, `evaluate.feature_networks`).
"""
