"""Plain torch networks: encoders, decoders and classifier heads, each in a registry by name."""
from . import backbones  # registers the backbone encoder
from .decoders import create_decoder, list_decoders
from .encoders import create_encoder, list_encoders
from .heads import create_head

__all__ = ["create_decoder", "create_encoder", "create_head", "list_decoders", "list_encoders"]
