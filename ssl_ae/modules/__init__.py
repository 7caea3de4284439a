"""LightningModules: stage 1 (autoencoder pretraining) and stage 2 (classifier finetuning)."""
from .autoencoder import AutoencoderModule
from .classifier import ClassifierModule

__all__ = ["AutoencoderModule", "ClassifierModule"]
