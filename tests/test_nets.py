import inspect

import pytest
import torch
from torch import nn

from ssl_ae.modules import AutoencoderModule, ClassifierModule
from ssl_ae.nets import create_decoder, create_encoder, create_head, list_decoders, list_encoders
from ssl_ae.nets.code import CODES
from ssl_ae.nets.decoders import decoders
from ssl_ae.pipeline import AutoencoderSpec

SHAPES = [(1, 8), (3, 8), (1, 28), (3, 32)]


@pytest.mark.parametrize("name", list_encoders())
@pytest.mark.parametrize("channels,size", SHAPES)
def test_encoder_decoder_round_trip_shapes(name, channels, size):
    assert name in list_decoders()
    enc = create_encoder(name, in_channels=channels, image_size=size, code_dim=12)
    dec = create_decoder(name, out_channels=channels, image_size=size, code_dim=12)
    x = torch.rand(4, channels, size, size)
    z = enc(x)
    assert z.shape == (4, 12) and enc.code_dim == 12
    assert dec(z).shape == x.shape


def test_every_decoder_has_an_encoder():
    assert list_decoders() == list_encoders()


@pytest.mark.parametrize("name", list_encoders())
@pytest.mark.parametrize("code", CODES)
def test_code_layers(name, code):
    torch.manual_seed(0)
    enc = create_encoder(name, in_channels=1, image_size=8, code_dim=6, code=code).eval()
    x = torch.rand(5, 1, 8, 8)
    z = enc(x)
    assert z.shape == (5, 6) and enc.code_dim == 6
    if code == "sigmoid":
        assert z.min() > 0 and z.max() < 1
    if code == "gaussian":
        mean, log_var = enc.distribution(x)
        assert mean.shape == log_var.shape == (5, 6)
        assert torch.equal(z, mean)  # a frozen VAE encoder hands the mean to the head
        assert not torch.allclose(mean, log_var)
    else:
        with pytest.raises(ValueError, match=f"a '{code}' code has no distribution"):
            enc.distribution(x)


def test_resnet_is_torchvision_resnet18_with_a_small_image_stem():
    from torchvision.models.resnet import BasicBlock, ResNet

    enc = create_encoder("resnet", in_channels=3, image_size=32, code_dim=16)
    assert isinstance(enc.body, ResNet) and isinstance(enc.body.layer4[1], BasicBlock)
    assert [len(getattr(enc.body, f"layer{i}")) for i in range(1, 5)] == [2, 2, 2, 2]
    assert enc.body.conv1.kernel_size == (3, 3) and enc.body.conv1.stride == (1, 1)
    assert isinstance(enc.body.maxpool, nn.Identity)
    features = {}
    enc.body.layer4.register_forward_hook(lambda m, i, o: features.update(out=o))
    enc(torch.rand(2, 3, 32, 32))
    assert features["out"].shape == (2, 512, 4, 4)  # 32 / 8: no max-pool, no strided stem


def test_mlp_takes_any_number_of_layers():
    for hidden in ([], [16], [32, 16, 8]):
        enc = create_encoder("mlp", in_channels=1, image_size=8, code_dim=4, hidden=hidden)
        dec = create_decoder("mlp", out_channels=1, image_size=8, code_dim=4, hidden=hidden[::-1])
        assert sum(isinstance(m, nn.Linear) for m in enc.modules()) == len(hidden) + 1
        assert dec(enc(torch.rand(3, 1, 8, 8))).shape == (3, 1, 8, 8)


def test_registry_remembers_spec_and_names_known_choices():
    enc = create_encoder("conv", in_channels=1, image_size=8, code_dim=5, widths=(8, 16))
    assert enc.spec == {"name": "conv", "in_channels": 1, "image_size": 8, "code_dim": 5,
                        "widths": (8, 16), "depth": 1, "pool": 0, "code": "linear"}  # defaults too
    with pytest.raises(ValueError, match="unknown encoder 'vit'; known: backbone, conv, mlp, resnet"):
        create_encoder("vit")
    with pytest.raises(ValueError, match="unknown code 'tanh'; known: linear, sigmoid, gaussian"):
        create_encoder("conv", code="tanh")


def test_a_net_built_with_its_defaults_is_rebuilt_from_its_checkpoint(tmp_path):
    from ssl_ae.checkpoints import load_autoencoder
    from ssl_ae.modules import AutoencoderModule
    from ssl_ae.objectives import create_objective

    module = AutoencoderModule(create_encoder("conv"), create_decoder("conv"),
                               create_objective("plain"))  # 1 channel, 28 px by default
    rebuilt = load_autoencoder(save_module(module, tmp_path / "last.ckpt"), (1, 28, 28))
    assert torch.equal(rebuilt.encoder.head.linear.weight, module.encoder.head.linear.weight)


def save_module(module, path):
    record = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(record, path)
    return path


def test_a_checkpoint_whose_spec_left_the_defaults_out_is_rebuilt_with_them(tmp_path):
    from ssl_ae.checkpoints import load_checkpoint, load_encoder
    from ssl_ae.modules import AutoencoderModule
    from ssl_ae.modules.saved_state import CHECKPOINT_KEY
    from ssl_ae.objectives import create_objective
    from ssl_ae.transfer import encoder_fields

    module = AutoencoderModule(create_encoder("conv"), create_decoder("conv"),
                               create_objective("plain"))
    path = save_module(module, tmp_path / "last.ckpt")
    record = torch.load(path, weights_only=True)
    record[CHECKPOINT_KEY]["encoder"] = {"name": "conv"}  # as versions before 2026-12-03 wrote it
    torch.save(record, path)
    encoder = load_encoder(path, (1, 28, 28))
    assert torch.equal(encoder.head.linear.weight, module.encoder.head.linear.weight)
    assert encoder_fields(load_checkpoint(path), (1, 28, 28))["code_dim"] == 32


def test_a_checkpoint_with_parts_of_ones_own_loads_or_names_the_part(tmp_path):
    from ssl_ae.checkpoints import load_autoencoder, load_classifier
    from ssl_ae.modules import AutoencoderModule, ClassifierModule

    def encoder():
        return create_encoder("mlp", in_channels=1, image_size=8, code_dim=4)

    plain = AutoencoderModule(encoder(), create_decoder("mlp", out_channels=1, image_size=8,
                                                        code_dim=4))  # no objective: plain MSE
    path = save_module(plain, tmp_path / "plain" / "last.ckpt")
    assert torch.equal(load_autoencoder(path).decoder.net[0].weight, plain.decoder.net[0].weight)
    own = AutoencoderModule(encoder(), nn.Sequential(nn.Linear(4, 64), nn.Unflatten(1, (1, 8, 8))))
    with pytest.raises(ValueError, match=r"own.last.ckpt: its decoder was not built from the "
                                         "registry"):
        load_autoencoder(save_module(own, tmp_path / "own" / "last.ckpt"))
    classifier = ClassifierModule(encoder(), nn.Linear(4, 3), 3)
    with pytest.raises(ValueError, match="its head was not built from the registry"):
        load_classifier(save_module(classifier, tmp_path / "head" / "last.ckpt"))


def test_every_registered_net_records_a_spec_that_a_weights_only_load_reads(tmp_path):
    from ssl_ae.nets.encoders import encoders
    from ssl_ae.nets.heads import heads
    from ssl_ae.objectives.base import objectives

    fill = {"model": "torchvision:resnet18", "in_dim": 4, "num_classes": 2, "graph_size": 8}
    for registry in (encoders, decoders, heads, objectives):
        for name in registry.names():
            builder = registry._builder(name)
            required = [p.name for p in inspect.signature(builder).parameters.values()
                        if p.default is p.empty and p.kind is not p.VAR_KEYWORD]
            spec = registry.create(name, **{key: fill[key] for key in required}).spec
            torch.save(spec, tmp_path / "spec.pt")
            loaded = torch.load(tmp_path / "spec.pt", weights_only=True)
            assert loaded == spec, (registry.kind, name)


def test_a_path_argument_is_recorded_as_plain_text():
    from pathlib import Path

    from ssl_ae.nets.registry import Registry

    nets = Registry("net")
    nets.register("reads")(lambda weights=None: nn.Identity())
    assert nets.create("reads", weights=Path("/w/file.pt")).spec == {"name": "reads",
                                                                      "weights": "/w/file.pt"}


@pytest.mark.parametrize("side", [10, 15, 27, 33])
def test_conv_autoencoder_takes_a_side_its_strides_do_not_divide(side):
    encoder = create_encoder("conv", in_channels=3, image_size=side, code_dim=4, widths=[4, 8, 8])
    decoder = create_decoder("conv", out_channels=3, image_size=side, code_dim=4, widths=[8, 8, 4])
    assert decoder(encoder(torch.rand(2, 3, side, side))).shape == (2, 3, side, side)
    backbone = create_decoder("backbone", image_size=side, code_dim=4, widths=[8, 8, 4])
    assert backbone(torch.rand(2, 4)).shape == (2, 3, side, side)


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_heads(name):
    assert create_head(name, in_dim=7, num_classes=3)(torch.rand(2, 7)).shape == (2, 3)


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_a_standardising_head_reads_the_code_standardised_by_the_statistics_it_was_fitted_to(name):
    torch.manual_seed(0)
    head = create_head(name, in_dim=7, num_classes=3, standardize=True).eval()
    codes = torch.randn(50, 7) * 3 + 5
    raw = head(codes[:2])
    head.fit(codes)
    assert torch.allclose(head.code_mean, codes.mean(0)) and (head.code_std > 2).all()
    standardised = (codes[:2] - codes.mean(0)) / codes.std(0, unbiased=False)
    assert torch.allclose(head(codes[:2]), head.net(standardised), atol=1e-5)
    assert not torch.allclose(head(codes[:2]), raw)
    plain = create_head(name, in_dim=7, num_classes=3)  # a checkpoint of the raw head is unchanged
    assert {f"net.{key}" for key in plain.state_dict()} | {"code_mean", "code_std"} == set(
        head.state_dict())


def test_conv_encoder_depth_adds_same_size_convolutions_and_pool_averages_over_a_grid():
    deep = create_encoder("conv", in_channels=3, image_size=16, code_dim=4, widths=[4, 8], depth=3)
    convs = [m for m in deep.body.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [2, 1, 1, 2, 1, 1]
    pooled = create_encoder("conv", in_channels=3, image_size=12, code_dim=4, widths=[4, 8, 16],
                            pool=True)
    assert pooled.head.linear.in_features == 16  # 12 px: 8 need not divide it when pooled
    assert pooled(torch.rand(2, 3, 12, 12)).shape == (2, 4)
    for side, grid, regions in ((32, 4, 4 * 4), (64, 4, 4 * 4), (12, 4, 2 * 2), (64, 0, 8 * 8)):
        gridded = create_encoder("conv", in_channels=3, image_size=side, code_dim=4,
                                 widths=[4, 8, 16], pool=grid)
        assert gridded.head.linear.in_features == 16 * regions  # a grid no finer than the stage
        assert gridded(torch.rand(2, 3, side, side)).shape == (2, 4)
    with pytest.raises(ValueError, match="pool must be 0"):
        create_encoder("conv", pool=-1)
    flat = create_encoder("conv", in_channels=3, image_size=12, code_dim=4, widths=[4, 8, 16])
    assert flat.head.linear.in_features == 16 * 2 * 2  # 12 -> 6 -> 3 -> 2
    with pytest.raises(ValueError, match="depth must be 1 or more"):
        create_encoder("conv", depth=0)


def test_a_config_may_give_pool_as_true_or_false_as_documented():
    for value, regions in ((True, 1), (False, 4 * 4), (4, 4 * 4)):
        spec = AutoencoderSpec(encoder="conv", code_dim=4,
                               encoder_kwargs={"widths": [4, 8], "pool": value})
        assert spec.build((3, 16, 16)).encoder.head.linear.in_features == 8 * regions
    with pytest.raises(ValueError, match="pool must be a whole number or true/false, got 'all'"):
        AutoencoderSpec(encoder="conv", encoder_kwargs={"pool": "all"}).build((3, 16, 16))


def test_registry_arguments_name_what_a_constructor_takes():
    assert {"widths", "code_dim", "out_channels"} <= decoders.arguments("conv")
    assert "pool" not in decoders.arguments("conv")
    with pytest.raises(ValueError, match="unknown decoder 'vit'"):
        decoders.arguments("vit")


def test_modules_keep_convolutions_channels_last_with_the_same_outputs():
    torch.manual_seed(0)
    shape = dict(image_size=16, code_dim=6)
    enc, plain = (create_encoder("conv", in_channels=3, **shape) for _ in range(2))
    plain.load_state_dict(enc.state_dict())
    x = torch.rand(4, 3, 16, 16)
    classifier = ClassifierModule(enc, create_head("linear", in_dim=6, num_classes=3), 3).eval()
    autoencoder = AutoencoderModule(create_encoder("conv", in_channels=3, **shape),
                                    create_decoder("conv", out_channels=3, **shape))
    for module in (classifier, autoencoder):
        convs = [p for p in module.parameters() if p.dim() == 4]
        assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert torch.allclose(classifier.encoder(x), plain.eval()(x), atol=1e-5)
