"""ssl_ae: semi-supervised image classification by autoencoder pretraining."""
__version__ = "0.1.0"
