"""Every variant survives a checkpoint; the VAE runs end to end and generates images."""
import pytest
import torch

from helpers import run_cli
from ssl_ae import pipeline
from ssl_ae.checkpoints import load_autoencoder, load_classifier, load_encoder
from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.generate import interpolate, sample_prior
from ssl_ae.modules.autoencoder import CHECKPOINT_KEY
from ssl_ae.nets import list_encoders
from ssl_ae.objectives import list_objectives

SHAPE = (1, 8, 8)


def save_checkpoint(module, path):
    """What Lightning's ModelCheckpoint writes, minus the trainer state."""
    checkpoint = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return path


def perturb(module):
    """Move every weight and BatchNorm statistic away from its initial value."""
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.01 * torch.randn_like(tensor))


def assert_round_trip(spec, tmp_path):
    torch.manual_seed(0)
    module = spec.build(SHAPE)
    perturb(module)
    loaded = load_autoencoder(save_checkpoint(module, tmp_path / "ae.ckpt"), SHAPE)
    assert loaded.objective.spec == module.objective.spec
    assert type(loaded.objective) is type(module.objective)
    assert vars(loaded.objective).keys() == vars(module.objective).keys()
    x = torch.rand(6, *SHAPE)
    module.eval(), loaded.eval()
    torch.testing.assert_close(loaded(x), module(x), rtol=0, atol=0)
    torch.testing.assert_close(loaded.encoder(x), module.encoder(x), rtol=0, atol=0)
    return module, loaded


@pytest.mark.parametrize("objective", list_objectives())
def test_every_objective_round_trips_through_a_checkpoint(objective, tmp_path):
    spec = pipeline.AutoencoderSpec(encoder="mlp", encoder_kwargs={"hidden": [16]},
                                    objective=objective, objective_kwargs={})
    module, loaded = assert_round_trip(spec, tmp_path)
    assert loaded.encoder.code == module.encoder.code == module.objective.code_for()


@pytest.mark.parametrize("encoder", list_encoders())
def test_every_encoder_round_trips_through_a_checkpoint(encoder, tmp_path):
    kwargs = {"widths": [4, 8]} if encoder == "conv" else {"hidden": [16]} if encoder == "mlp" else {}
    spec = pipeline.AutoencoderSpec(encoder=encoder, encoder_kwargs=kwargs, objective="vae",
                                    objective_kwargs={"beta": 0.5}, code_dim=5)
    module, loaded = assert_round_trip(spec, tmp_path)
    assert loaded.encoder.code_dim == 5 and loaded.objective.beta == 0.5


def test_vae_pretrain_finetune_sample_end_to_end(tmp_path):
    data = SemiSupervisedDataModule(seed=0)
    model = pipeline.AutoencoderSpec(objective="vae", objective_kwargs={"loss": "bce"})
    quiet = {"enable_progress_bar": False}
    torch.manual_seed(0)
    pretrained = pipeline.pretrain(data, tmp_path / "pretrain", model, {"max_epochs": 2, **quiet})
    info = torch.load(pretrained, weights_only=True)[CHECKPOINT_KEY]
    assert info["encoder"]["code"] == "gaussian" and info["objective"]["name"] == "vae"

    finetuned = pipeline.finetune(data, pretrained, tmp_path / "finetune", None,
                                  {"max_epochs": 30, **quiet})
    classifier = load_classifier(finetuned, SHAPE).eval()
    vae = load_autoencoder(pretrained, SHAPE).eval()
    x = data.subset("test", labels=False)[:16]
    mean, log_var = vae.encoder.distribution(x)
    code = classifier.encoder(x)
    assert code.shape == (16, 32) and classifier.encoder.code_dim == 32
    torch.testing.assert_close(code, mean)  # the frozen encoder hands the mean to the head
    assert classifier.head.in_features == 32
    assert not torch.allclose(log_var, torch.zeros_like(log_var))
    torch.testing.assert_close(load_encoder(pretrained, SHAPE).eval()(x), mean)

    rows = pipeline.evaluate(data, finetuned)
    assert rows[0].method == "frozen encoder + linear head" and 0.3 < rows[0].accuracy <= 1.0  # chance is 0.1

    samples = sample_prior(vae, 5, seed=3)
    assert samples.shape == (5, *SHAPE) and 0 <= samples.min() and samples.max() <= 1
    assert torch.equal(samples, sample_prior(vae, 5, seed=3))
    line = interpolate(vae, x[0], x[1], steps=7)
    assert line.shape == (7, *SHAPE)
    torch.testing.assert_close(line[0], vae(x[:1])[0])  # the ends decode the two images' means
    torch.testing.assert_close(line[-1], vae(x[1:2])[0])

    run_cli("sample", "--pretrained", tmp_path, "--run-dir", tmp_path, "--num", 16)
    for name in ("prior_samples.png", "interpolations.png"):
        assert (tmp_path / "samples" / name).stat().st_size > 1000


def test_sample_refuses_the_prior_of_a_plain_autoencoder(tiny_run, tmp_path):
    plain = load_autoencoder(tiny_run, SHAPE)
    with pytest.raises(ValueError, match="sampling from the prior needs a VAE.*'denoising'"):
        sample_prior(plain, 4)
    run_cli("sample", "--pretrained", tiny_run, "--run-dir", tmp_path)  # interpolations only
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["interpolations.png"]
