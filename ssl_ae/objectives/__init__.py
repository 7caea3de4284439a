"""Autoencoder objectives: what the network sees, and what the loss compares it with.

An objective is a small ``nn.Module`` called as ``objective(encoder, decoder, x)``; it returns a
dict with ``loss`` (scalar), ``recon`` (the decoder's output, as pixels) and any extra terms to log.
A new variant is one class in one file here plus its registry line.
"""
from .base import RECONSTRUCTION_LOSSES, Objective, create_objective, list_objectives
from .contractive import Contractive
from .denoising import Denoising
from .masked import Masked
from .siamese import Siamese
from .sparse import Sparse
from .variational import Variational

__all__ = ["RECONSTRUCTION_LOSSES", "Contractive", "Denoising", "Masked", "Objective", "Siamese",
           "Sparse", "Variational", "create_objective", "list_objectives"]
