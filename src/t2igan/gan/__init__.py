"""The DF-GAN-family conditional GAN: generator, discriminator, losses, EMA, export."""
