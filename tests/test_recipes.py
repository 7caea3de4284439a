"""The default autoencoder follows the kind of image; what a config sets is kept."""

import pytest
import torch
import yaml

from helpers import ROOT
from ssl_ae import recipes
from ssl_ae.pipeline import AutoencoderSpec


@pytest.mark.parametrize("shape,expected", [((1, 8, 8), recipes.GREY), ((3, 32, 32), recipes.COLOUR)])
def test_unset_fields_take_the_recipe_of_the_image_kind(shape, expected):
    spec = AutoencoderSpec().resolved(shape)
    assert {k: getattr(spec, k) for k in expected} == expected
    module = spec.build(shape)
    assert module.objective.spec["name"] == expected["objective"]
    given = {"name": "conv", "in_channels": shape[0], "image_size": shape[1],
             "code_dim": expected["code_dim"], "code": "linear", **expected["encoder_kwargs"]}
    assert {k: module.encoder.spec[k] for k in given} == given
    decoder = expected["decoder_kwargs"] or {"widths": expected["encoder_kwargs"]["widths"][::-1]}
    assert module.decoder.spec["widths"] == decoder["widths"]


def test_a_set_encoder_or_objective_does_not_inherit_the_recipe_arguments():
    spec = AutoencoderSpec(encoder="mlp", objective="plain").resolved((3, 32, 32))
    assert spec.encoder_kwargs == {} and spec.decoder_kwargs is None and spec.objective_kwargs == {}
    assert spec.code_dim == recipes.COLOUR["code_dim"]
    kept = AutoencoderSpec(objective_kwargs={"contrast": 0.0}, code_dim=16).resolved((3, 32, 32))
    assert kept.objective == "siamese" and kept.objective_kwargs == {"contrast": 0.0}
    assert kept.code_dim == 16


def test_resolving_never_shares_the_recipe_dicts():
    spec = AutoencoderSpec().resolved((3, 32, 32))
    spec.encoder_kwargs["widths"].append(256)
    assert recipes.COLOUR["encoder_kwargs"]["widths"] == [64, 128, 256]


def test_own_encoder_arguments_get_the_mirrored_decoder_not_the_recipe_one():
    module = AutoencoderSpec(encoder_kwargs={"widths": [8, 16]}).build((3, 12, 12))
    assert module.decoder.spec["widths"] == [16, 8]
    own = AutoencoderSpec(encoder_kwargs={"widths": [8, 16]}, decoder_kwargs={"widths": [4, 4]})
    assert own.build((3, 12, 12)).decoder.spec["widths"] == [4, 4]


@pytest.mark.parametrize("channels,size,stages", [(3, 32, 3), (3, 28, 3), (3, 6, 3), (3, 33, 3),
                                                   (1, 28, 2), (1, 30, 2), (1, 9, 2)])
def test_recipes_fit_sides_that_their_strides_do_not_divide(channels, size, stages):
    module = AutoencoderSpec().build((channels, size, size))
    assert len(module.encoder.spec["widths"]) == len(module.decoder.spec["widths"]) == stages
    assert module(torch.rand(2, channels, size, size)).shape == (2, channels, size, size)


def test_colour_recipe_code_layer_reads_a_grid_of_the_same_size_at_any_image_size():
    widths = {side: AutoencoderSpec().build((3, side, side)).encoder.head.linear.in_features
              for side in (32, 64, 96)}
    assert widths == {32: 256 * 4 * 4, 64: 256 * 4 * 4, 96: 256 * 4 * 4}


def test_unknown_encoder_is_named():
    with pytest.raises(ValueError, match="unknown encoder 'vit'; known: backbone, conv, mlp, resnet"):
        AutoencoderSpec(encoder="vit").build((3, 32, 32))


@pytest.mark.parametrize("path", sorted((ROOT / "configs/cifar10").glob("pretrain*.yaml")), ids=lambda p: p.name)
def test_cifar10_pretrain_configs_build_their_autoencoder(path):
    model = yaml.safe_load(path.read_text())["model"]
    module = AutoencoderSpec(**model).build((3, 32, 32))
    given = {"name": "siamese", **model["objective_kwargs"]}
    assert {k: module.objective.spec[k] for k in given} == given
    assert module.encoder.code_dim == model["code_dim"]
