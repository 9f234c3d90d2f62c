// Barrel of model/: the Autoencoder contract and latent distributions.
