"""Starting from an encoder trained elsewhere: an earlier run (``model.init_from``), or a timm or
torchvision backbone whose weights the tests write themselves (no internet needed)."""
import urllib.error

import pytest
import torch
import yaml
from helpers import run_cli

from ssl_ae.checkpoints import load_autoencoder, load_encoder
from ssl_ae.nets import create_encoder
from ssl_ae.pipeline import AutoencoderSpec

QUIET = ["--trainer.enable_progress_bar", "false"]
DIGITS = (1, 8, 8)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_init_from_takes_the_earlier_encoder_and_its_weights(tiny_run):
    earlier = load_autoencoder(tiny_run, DIGITS)
    spec = AutoencoderSpec(init_from=str(tiny_run))
    resolved = spec.resolved(DIGITS)
    assert (resolved.encoder, resolved.code_dim, resolved.encoder_kwargs["widths"]) == \
        ("conv", 32, [32, 64])
    module = spec.build(DIGITS)
    assert same_weights(module.encoder, earlier.encoder)
    assert same_weights(module.decoder, earlier.decoder)  # the same decoder is built: it starts there too


def test_init_from_with_a_fixed_encoder_trains_only_the_decoder(tiny_run, tmp_path):
    run_cli("pretrain", "--model.init_from", tiny_run, "--model.encoder_lr", 0,
            "--trainer.max_epochs", 1, *QUIET, "--run-dir", tmp_path / "adapted")
    before, after = load_autoencoder(tiny_run, DIGITS), load_autoencoder(tmp_path / "adapted", DIGITS)
    assert same_weights(after.encoder, before.encoder)  # BatchNorm statistics included
    assert not same_weights(after.decoder, before.decoder)
    config = yaml.safe_load((tmp_path / "adapted" / "pretrain" / "config.yaml").read_text())
    assert config["model"]["init_from"] == str(tiny_run) and config["model"]["encoder_lr"] == 0


def test_init_from_at_a_lower_encoder_lr_moves_the_encoder_less(tiny_run, tmp_path):
    moved = {}
    for name, encoder_lr in (("gentle", 1e-5), ("full", None)):
        extra = [] if encoder_lr is None else ["--model.encoder_lr", encoder_lr]
        run_cli("pretrain", "--model.init_from", tiny_run, *extra, "--trainer.max_epochs", 1,
                *QUIET, "--run-dir", tmp_path / name)
        before, after = load_encoder(tiny_run), load_encoder(tmp_path / name)
        moved[name] = sum((after.state_dict()[k].float() - v.float()).abs().sum().item()
                          for k, v in before.state_dict().items() if "weight" in k)
    assert 0 < moved["gentle"] < moved["full"] / 10


@pytest.mark.parametrize("option, message", [
    ({"code_dim": 64}, "leave model.code_dim unset"),
    ({"encoder": "mlp"}, "leave model.encoder unset"),
    ({"encoder_kwargs": {"widths": [16, 32]}}, "leave model.encoder_kwargs unset"),
    ({"encoder_lr": -1.0}, "model.encoder_lr must be 0"),
    ({"objective": "vae"}, "its encoder has a 'linear' code layer, and objective 'vae' needs a "
                           "'gaussian' one; choose another objective"),
])
def test_init_from_refuses_settings_that_contradict_it(tiny_run, option, message):
    with pytest.raises(ValueError, match=message):
        AutoencoderSpec(init_from=str(tiny_run), **option).build(DIGITS)


def test_init_from_takes_the_earlier_runs_own_encoder_settings_repeated(tiny_run):
    """A pretrain config.yaml reused with init_from repeats the settings the run recorded."""
    spec = AutoencoderSpec(init_from=str(tiny_run), encoder_kwargs={"widths": [32, 64]})
    assert spec.resolved(DIGITS).encoder_kwargs["widths"] == [32, 64]


def test_init_from_carries_a_projector_whose_settings_are_written_otherwise():
    """The earlier objective's weights load where they fit, whether its settings were spelled
    out (a config) or left to their defaults (the recipe)."""
    from ssl_ae.modules.saved_state import CHECKPOINT_KEY
    from ssl_ae.transfer import start_from

    torch.manual_seed(0)
    earlier = AutoencoderSpec(encoder="conv", objective="siamese",
                              objective_kwargs={"temperature": 0.2}).build(DIGITS)
    checkpoint = {CHECKPOINT_KEY: {}, "state_dict": earlier.state_dict(), "path": "earlier.ckpt"}
    new = AutoencoderSpec(encoder="conv", objective="siamese").build(DIGITS)
    assert start_from(new, checkpoint) == ["encoder", "decoder", "objective"]
    for name, value in earlier.objective.state_dict().items():
        assert torch.equal(new.objective.state_dict()[name], value), name


def test_init_from_a_plain_weights_file_says_where_it_belongs(tmp_path):
    weights = tmp_path / "resnet.pth"
    torch.save(create_encoder("conv", in_channels=1, image_size=8).state_dict(), weights)
    with pytest.raises(ValueError, match=r"model.init_from: .* goes in "
                                         r"model.encoder_kwargs.weights with model.encoder backbone"):
        AutoencoderSpec(init_from=str(weights)).build(DIGITS)


def test_init_from_on_images_of_another_shape_names_both(tiny_run):
    with pytest.raises(ValueError, match=r"takes images of shape \(1, 8, 8\).*data has \(3, 8, 8\)"):
        AutoencoderSpec(init_from=str(tiny_run)).build((3, 8, 8))


def test_init_from_a_folder_without_a_run_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no pretrain checkpoint"):
        AutoencoderSpec(init_from=str(tmp_path)).build(DIGITS)


def backbone(model: str, weights=None, in_channels: int = 3) -> torch.nn.Module:
    return create_encoder("backbone", in_channels=in_channels, image_size=16, code_dim=8,
                          model=model, weights=None if weights is None else str(weights),
                          input_size=32).eval()


def test_timm_backbone_loads_a_state_dict_file_by_name(tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    reference = timm.create_model("test_resnet", num_classes=0).eval()
    torch.save(reference.state_dict(), tmp_path / "test_resnet.pth")
    encoder = backbone("timm:test_resnet", tmp_path / "test_resnet.pth")
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(encoder.body(encoder.prepare(x)), reference(encoder.prepare(x)))
    random = backbone("timm:test_resnet")
    assert not same_weights(random.body, reference)


def test_torchvision_backbone_loads_a_wrapped_checkpoint_and_repeats_grey_images(tmp_path):
    from torchvision.models import mobilenet_v3_small

    torch.manual_seed(0)
    reference = mobilenet_v3_small().eval()
    saved = {f"module.{k}": v for k, v in reference.state_dict().items()}  # as DDP saves it
    torch.save({"state_dict": saved, "epoch": 3}, tmp_path / "mobilenet.ckpt")
    encoder = backbone("torchvision:mobilenet_v3_small", tmp_path / "mobilenet.ckpt", in_channels=1)
    reference.classifier[-1] = torch.nn.Identity()
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        prepared = encoder.prepare(x)
        assert prepared.shape == (2, 3, 32, 32)
        assert torch.equal(encoder.body(prepared), reference(prepared))
        assert encoder(x).shape == (2, 8)


@pytest.mark.parametrize("model", ["torchvision:resnet18", "timm:test_resnet"])
def test_backbone_weights_of_another_model_are_refused(tmp_path, model):
    from torchvision.models import mobilenet_v3_small

    if model.startswith("timm:"):
        pytest.importorskip("timm")
    torch.save(mobilenet_v3_small().state_dict(), tmp_path / "mobilenet.pth")
    with pytest.raises(ValueError, match=r"mobilenet.pth does not fit this backbone: \d+ weights missing"):
        backbone(model, tmp_path / "mobilenet.pth")
    with pytest.raises(FileNotFoundError, match="backbone weights .*nothere.pth not found"):
        backbone(model, tmp_path / "nothere.pth")


@pytest.mark.parametrize("name, content", [
    ("tensor.pt", torch.zeros(3)),
    ("list.pt", [torch.zeros(3)]),
    ("broken.safetensors", b"garbage bytes here"),
])
def test_a_weights_file_that_holds_no_state_dict_is_named(tmp_path, name, content):
    file = tmp_path / name
    if isinstance(content, bytes):
        file.write_bytes(content)
    else:
        torch.save(content, file)
    with pytest.raises(ValueError, match=f"{name} holds no state_dict"):
        backbone("torchvision:resnet18", file)


@pytest.mark.parametrize("model, message", [
    ("resnet18", "must read LIBRARY:NAME"),
    ("torchvision:nosuchnet", "torchvision has no classification model 'nosuchnet'"),
    ("timm:nosuchnet", "timm has no model 'nosuchnet'"),
])
def test_unknown_backbones_are_named(model, message):
    if model.startswith("timm:"):
        pytest.importorskip("timm")
    with pytest.raises(ValueError, match=message):
        backbone(model)


def test_hub_weights_offline_name_the_file_to_place(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(OSError, match=r"download https://download.pytorch.org/models/resnet18-\w+"
                                      r"\.pth and place it at .*checkpoints.*weights: PATH"):
        backbone("torchvision:resnet18", "hub")


class Payload:
    def __reduce__(self):
        return print, ("code in a weights file ran",)


def test_hub_weights_in_the_cache_are_read_weights_only(tmp_path, monkeypatch, capsys):
    from torchvision.models import get_model_weights, resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = get_model_weights("resnet18").DEFAULT.url
    cache = tmp_path / "hub" / "checkpoints" / url.split("/")[-1]
    cache.parent.mkdir(parents=True)
    torch.save({"conv1.weight": Payload()}, cache)  # placed by hand, as the offline error advises
    with pytest.raises(ValueError, match=r"resnet18-\w+.pth, the cached weights of "
                                         r"torchvision:resnet18, is no readable weights-only"):
        backbone("torchvision:resnet18", "hub")
    assert "ran" not in capsys.readouterr().out
    original = resnet18().state_dict()
    torch.save(original, cache)
    loaded = backbone("torchvision:resnet18", "hub").body.state_dict()
    assert torch.equal(loaded["conv1.weight"], original["conv1.weight"])


def test_safetensors_weights_saved_from_a_ddp_model_load_as_torch_files_do(tmp_path):
    save_file = pytest.importorskip("safetensors.torch").save_file
    from torchvision.models import resnet18

    original = resnet18().state_dict()
    save_file({f"module.{k}": v for k, v in original.items()}, tmp_path / "w.safetensors")
    loaded = backbone("torchvision:resnet18", tmp_path / "w.safetensors").body.state_dict()
    assert torch.equal(loaded["conv1.weight"], original["conv1.weight"])


def test_backbone_run_rebuilds_without_its_weights_file(tmp_path):
    """The checkpoint holds the backbone's weights: finetuning needs no weights file, and the
    rebuilt encoder gives the pretrained codes."""
    timm = pytest.importorskip("timm")
    weights = tmp_path / "test_resnet.pth"
    torch.save(timm.create_model("test_resnet", num_classes=0).state_dict(), weights)
    run = tmp_path / "run"
    run_cli("pretrain", "--model.encoder", "backbone", "--model.encoder_kwargs",
            f"{{model: timm:test_resnet, weights: {weights}, input_size: 16}}",
            "--trainer.max_epochs", 1, *QUIET, "--run-dir", run)
    module = load_autoencoder(run, DIGITS)
    weights.unlink()
    encoder = load_encoder(run, DIGITS).eval()
    assert encoder.spec["weights"] == str(weights)  # where the weights came from, recorded
    x = torch.rand(4, *DIGITS)
    with torch.no_grad():
        assert torch.allclose(encoder(x), module.encoder.eval()(x), atol=1e-5)  # channels-last there
    run_cli("finetune", "--pretrained", run, "--trainer.max_epochs", 1, *QUIET, "--run-dir", run)
    assert (run / "finetune" / "checkpoints" / "last.ckpt").is_file()
    # nor does evaluate, whose from-scratch baseline starts from fresh weights, not the file's
    run_cli("evaluate", "--pretrained", run, "--run-dir", run, "--sweep.labels_per_class", "[1]",
            "--sweep.seeds", "[0]", "--sweep.head_steps", 5, "--sweep.scratch_steps", 2)
    assert (run / "report" / "results.json").is_file()


def test_a_torchvision_file_without_batchnorm_counters_loads(tmp_path):
    """torchvision's classic ImageNet files have no num_batches_tracked; the counters are not
    weights, so such a file loads and gives the same outputs."""
    from torchvision.models import mobilenet_v3_small

    torch.manual_seed(0)
    reference = mobilenet_v3_small().eval()
    state = {k: v for k, v in reference.state_dict().items() if "num_batches_tracked" not in k}
    assert len(state) < len(reference.state_dict())
    path = tmp_path / "mobilenet_classic.pth"
    torch.save(state, path)
    encoder = backbone("torchvision:mobilenet_v3_small", path)
    reference.classifier[-1] = torch.nn.Identity()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(encoder.body(encoder.prepare(x)), reference(encoder.prepare(x)))


def test_fixed_backbone_keeps_its_weights_but_learns_its_new_code_layer(tmp_path):
    """encoder_lr 0 governs the weights loaded from the file; the code layer that replaces the
    classifier is new, so it learns at model.lr instead of staying a random projection."""
    timm = pytest.importorskip("timm")
    weights = tmp_path / "test_resnet.pth"
    torch.save(timm.create_model("test_resnet", num_classes=0).state_dict(), weights)
    kwargs = f"{{model: timm:test_resnet, weights: {weights}, input_size: 16}}"
    run_cli("pretrain", "--model.encoder", "backbone", "--model.encoder_kwargs", kwargs,
            "--model.encoder_lr", 0, "--trainer.max_epochs", 1, *QUIET, "--run-dir", tmp_path / "run")
    spec = AutoencoderSpec(encoder="backbone", encoder_kwargs=yaml.safe_load(kwargs), encoder_lr=0)
    start, after = spec.build(DIGITS), load_autoencoder(tmp_path / "run", DIGITS)
    assert same_weights(after.encoder.body, start.encoder.body)  # BatchNorm statistics included
    assert not any(p.requires_grad for p in start.encoder.body.parameters())
    assert all(p.requires_grad for p in start.encoder.head.parameters())
    from_run = AutoencoderSpec(init_from=str(tmp_path / "run"), encoder_lr=0).build(DIGITS)
    assert not any(p.requires_grad for p in from_run.encoder.parameters())  # nothing new there


@pytest.mark.parametrize("model, options, message", [
    ("torchvision:squeezenet1_0", {}, "ends in no linear classifier to replace"),
    ("torchvision:vit_b_16", {"input_size": 64}, "cannot read 64-pixel images .*set input_size"),
    ("torchvision:googlenet", {"input_size": 64}, "gives auxiliary classifiers' outputs while training"),
    ("torchvision:inception_v3", {"input_size": 96}, "gives auxiliary classifiers' outputs while training"),
])
def test_backbones_that_cannot_serve_as_encoders_are_named(model, options, message):
    with pytest.raises(ValueError, match=message):
        create_encoder("backbone", image_size=16, code_dim=8, model=model, **options)


def test_a_timm_name_may_carry_its_weights_tag():
    pytest.importorskip("timm")
    encoder = create_encoder("backbone", image_size=16, code_dim=8, model="timm:test_resnet.r160_in1k",
                             input_size=32)
    assert encoder(torch.rand(2, 3, 16, 16)).shape == (2, 8)
