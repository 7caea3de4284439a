import pytest
import torch

from ssl_ae.nets import create_decoder, create_encoder, create_head, list_decoders, list_encoders


@pytest.mark.parametrize("name", list_encoders())
@pytest.mark.parametrize("channels,size", [(1, 8), (1, 28), (3, 32)])
def test_encoder_decoder_round_trip_shapes(name, channels, size):
    assert name in list_decoders()
    enc = create_encoder(name, in_channels=channels, image_size=size, code_dim=12)
    dec = create_decoder(name, out_channels=channels, image_size=size, code_dim=12)
    x = torch.rand(4, channels, size, size)
    z = enc(x)
    assert z.shape == (4, 12)
    assert dec(z).shape == x.shape


def test_registry_remembers_spec_and_names_known_choices():
    enc = create_encoder("conv", in_channels=1, image_size=8, code_dim=5, widths=(8, 16))
    assert enc.spec == {"name": "conv", "in_channels": 1, "image_size": 8, "code_dim": 5,
                        "widths": (8, 16)}
    with pytest.raises(ValueError, match="unknown encoder 'vit'; known: conv, mlp"):
        create_encoder("vit")


def test_conv_rejects_indivisible_size():
    with pytest.raises(ValueError, match="image_size 10 is not divisible by 4"):
        create_encoder("conv", image_size=10)


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_heads(name):
    assert create_head(name, in_dim=7, num_classes=3)(torch.rand(2, 7)).shape == (2, 3)
