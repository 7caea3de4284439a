import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from ssl_ae.cli import build_parser
from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.data.transforms import build_augment, default_augment
from ssl_ae.objectives import Denoising

FLIP = yaml.safe_load("""
- {name: HorizontalFlip, p: 1.0}
""")


def test_yaml_pipeline_applies_to_the_stage_it_is_given_for_only():
    data = SemiSupervisedDataModule(pretrain_augment=FLIP, finetune_augment=[])
    data.setup()
    images = data.subset("unlabeled", labels=False).images.float() / 255
    first = data.subset("unlabeled", labels=False, augment="pretrain")[0]
    assert torch.equal(first, images[0].flip(-1)) and not torch.equal(first, images[0])
    assert torch.equal(data.subset("unlabeled", labels=False, augment="finetune")[0], images[0])
    assert torch.equal(data.test_dataloader().dataset[0][0],
                       data.subset("test", labels=False).images[0].float() / 255)
    x, y = data.labeled_dataloader().dataset[0]
    assert x.shape == (1, 8, 8) and y.dtype == torch.int64


def test_cli_takes_a_pipeline_on_the_command_line():
    cfg = build_parser().parse_args(["pretrain", "--data.pretrain_augment",
                                     "[{name: HorizontalFlip, p: 0.5}]"])
    assert cfg.pretrain.data.pretrain_augment == [{"name": "HorizontalFlip", "p": 0.5}]


def test_bad_pipelines_name_the_step():
    with pytest.raises(ValueError, match="step 1: unknown transform 'Flipp'"):
        build_augment([{"name": "HorizontalFlip"}, {"name": "Flipp"}])
    with pytest.raises(ValueError, match=r"step 0 \(RandomCrop\)"):
        build_augment([{"name": "RandomCrop", "heigth": 4}])
    data = SemiSupervisedDataModule(pretrain_augment=[{"name": "RandomCrop", "height": 4, "width": 4}])
    with pytest.raises(ValueError, match=r"turned a \(8, 8, 1\) image into \(4, 4, 1\); transforms must keep"):
        data.subset("unlabeled", labels=False, augment="pretrain")[0]


def test_defaults_per_source():
    assert default_augment("mnist", "pretrain", (1, 28, 28)) == []
    assert default_augment("digits", "finetune", (1, 8, 8)) == []
    cifar = default_augment("cifar10", "pretrain", (3, 32, 32))
    assert [s["name"] for s in cifar] == ["PadIfNeeded", "RandomCrop", "HorizontalFlip"]
    assert [s["name"] for s in default_augment("svhn", "pretrain", (3, 32, 32))] == ["PadIfNeeded", "RandomCrop"]
    augment = build_augment(cifar)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    outs = [augment(image) for _ in range(8)]
    assert all(o.shape == (32, 32, 3) for o in outs)
    assert any(not np.array_equal(o, image) for o in outs)


def test_denoising_corrupts_the_input_only_never_the_target():
    """The loader's (augmented) batch is the target; the objective corrupts only what the
    encoder sees."""
    objective = Denoising(noise="gaussian", strength=0.5).train()
    x = torch.rand(4, 1, 8, 8)
    seen = []
    identity_encoder = lambda inp: seen.append(inp) or inp  # noqa: E731
    torch.manual_seed(0)
    loss = objective(identity_encoder, lambda z: z, x)["loss"]
    assert not torch.equal(seen[0], x)
    assert torch.allclose(loss, F.mse_loss(seen[0], x))  # target: the clean batch
    assert loss > 0.1


def test_a_step_that_turns_pixels_into_floats_is_refused_by_name():
    from ssl_ae.data.transforms import prepared

    augment = build_augment([{"name": "Normalize"}])
    with pytest.raises(ValueError, match="turned uint8 pixels into float32; leave scaling and "
                                         "normalisation to the package"):
        prepared(np.zeros((1, 8, 8), np.uint8), augment)
