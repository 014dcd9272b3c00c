"""t2igan: train, evaluate, version and ship text-to-image GANs conditioned on a pretrained language model."""

__version__ = "0.1.0"
