"""The objectives' formulas and behaviour; every variant survives a checkpoint; the VAE runs end
to end and generates images."""
import math

import pytest
import torch
from torch import nn

from helpers import run_cli
from ssl_ae import pipeline
from ssl_ae.checkpoints import load_autoencoder, load_classifier, load_encoder
from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.generate import interpolate, sample_prior
from ssl_ae.modules.saved_state import CHECKPOINT_KEY
from ssl_ae.nets import create_decoder, create_encoder, list_encoders
from ssl_ae.objectives import Denoising, Masked, Siamese, create_objective, list_objectives
from ssl_ae.objectives.contractive import (jacobian_norm_autograd, jacobian_norm_sigmoid,
                                           sigmoid_layer)
from ssl_ae.objectives.denoising import info_nce
from ssl_ae.objectives.masked import patch_mask
from ssl_ae.objectives.sparse import kl_sparsity
from ssl_ae.objectives.variational import gaussian_kl, reparameterise

VARIANTS = [("plain", {}), ("plain", {"loss": "bce"}), ("plain", {"loss": "l1"}),
            ("denoising", {"noise": "gaussian"}), ("denoising", {"noise": "salt_pepper"}),
            ("denoising", {"noise": "mask"}), ("denoising", {"shift": 1, "contrast": 0.1}),
            ("sparse", {}), ("sparse", {"kl_weight": 0.0}),
            ("contractive", {}), ("vae", {}), ("vae", {"loss": "mse", "beta": 4.0}),
            ("masked", {}), ("masked", {"patch_size": 4, "mask_ratio": 0.75}),
            ("siamese", {"min_area": 0.5}), ("siamese", {"contrast": 0.0})]


def autoencoder(objective, name="mlp", code_dim=8, size=8, **kwargs):
    """A small encoder/decoder pair with the code layer ``objective`` needs."""
    enc = create_encoder(name, in_channels=1, image_size=size, code_dim=code_dim,
                         code=objective.code_for(), **kwargs)
    dec = create_decoder(name, out_channels=1, image_size=size, code_dim=code_dim, **kwargs)
    return enc, dec


def train(objective, enc, dec, x, steps=40, lr=3e-3):
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=lr)
    losses = []
    for _ in range(steps):
        loss = objective(enc, dec, x)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_every_registered_objective_is_covered():
    assert {name for name, _ in VARIANTS} == set(list_objectives())


@pytest.mark.parametrize("name,kwargs", VARIANTS)
def test_loss_falls(name, kwargs):
    torch.manual_seed(0)
    objective = create_objective(name, **kwargs)
    enc, dec = autoencoder(objective, hidden=[64])
    x = torch.rand(4, 1, 8, 8).round().repeat(8, 1, 1, 1)  # 4 binary patterns: learnable
    losses = train(objective, enc, dec, x)
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < 0.75 * sum(losses[:5]) / 5


@pytest.mark.parametrize("noise", Denoising.NOISES)
def test_corruption_changes_input_only_in_training(noise):
    objective = Denoising(noise=noise, strength=0.5)
    x = torch.full((2, 1, 8, 8), 0.5)
    assert not torch.equal(objective.corrupt(x), x)
    seen = []
    encoder = lambda inp: seen.append(inp) or inp.flatten(1)  # noqa: E731
    decoder = lambda z: z.view(-1, 1, 8, 8)  # noqa: E731
    objective.eval()
    objective(encoder, decoder, x)
    assert torch.equal(seen[-1], x)


def test_unknown_loss_noise_and_bad_settings_rejected():
    with pytest.raises(ValueError, match="unknown objective 'gan'; known: contractive, denoising, "
                                         "masked, plain, siamese, sparse, vae"):
        create_objective("gan")
    with pytest.raises(ValueError, match="unknown loss 'huber'"):
        create_objective("plain", loss="huber")
    with pytest.raises(ValueError, match="unknown noise 'blur'"):
        create_objective("denoising", noise="blur")
    with pytest.raises(ValueError, match="temperature > 0, got 0.1 and 0"):
        create_objective("denoising", contrast=0.1, temperature=0)
    with pytest.raises(ValueError, match="rho=1.5 must lie strictly between 0 and 1"):
        create_objective("sparse", rho=1.5)
    with pytest.raises(ValueError, match="mask_ratio=1.0 must lie strictly between 0 and 1"):
        create_objective("masked", mask_ratio=1.0)
    with pytest.raises(ValueError, match=r"min_area must be in \(0, 1\], got 0"):
        create_objective("siamese", min_area=0)
    with pytest.raises(ValueError, match=r"8x8 is not divisible by patch_size=3"):
        create_objective("masked", patch_size=3)(nn.Flatten(), None, torch.rand(2, 1, 8, 8))


def test_objectives_ask_for_the_code_they_need():
    assert create_objective("vae").code_for() == "gaussian"
    assert create_objective("sparse").code_for() == "sigmoid"
    assert create_objective("sparse", kl_weight=0).code_for() == "linear"
    assert create_objective("plain").code_for("sigmoid") == "sigmoid"
    with pytest.raises(ValueError, match="objective 'vae' needs a 'gaussian' code but code='linear'"):
        create_objective("vae").code_for("linear")
    linear = create_encoder("conv", in_channels=1, image_size=8, code_dim=4)
    with pytest.raises(ValueError, match="build the encoder with code='sigmoid'"):
        create_objective("sparse")(linear, None, torch.rand(4, 1, 8, 8) * 10 - 5)


# --- sparse -------------------------------------------------------------------------------

def test_kl_sparsity_matches_the_bernoulli_kl_and_vanishes_at_rho():
    code = torch.tensor([[0.1, 0.5], [0.3, 0.5]])  # unit means 0.2 and 0.5
    expected = sum(0.05 * math.log(0.05 / q) + 0.95 * math.log(0.95 / (1 - q)) for q in (0.2, 0.5))
    assert kl_sparsity(code, 0.05).item() == pytest.approx(expected, rel=1e-5)
    assert kl_sparsity(torch.full((3, 4), 0.05), 0.05).item() == pytest.approx(0, abs=1e-6)


def test_sparsity_penalties_make_the_code_sparse():
    """Same data, same seed: the KL penalty pulls the mean activation to rho, the L1 penalty
    shrinks the code."""
    x = torch.rand(64, 1, 8, 8).round()

    def mean_abs_code(**kwargs):
        torch.manual_seed(0)
        objective = create_objective("sparse", **kwargs)
        enc, dec = autoencoder(objective, hidden=[64])
        train(objective, enc, dec, x, steps=60, lr=1e-2)
        return enc.eval()(x).abs().mean().item()

    torch.manual_seed(0)
    free = mean_abs_code(l1_weight=0.0, kl_weight=1e-9)
    with_kl = mean_abs_code(l1_weight=0.0, kl_weight=0.1, rho=0.05)
    assert abs(with_kl - 0.05) < 0.5 * abs(free - 0.05)
    no_l1 = mean_abs_code(l1_weight=0.0, kl_weight=0.0)
    with_l1 = mean_abs_code(l1_weight=1.0, kl_weight=0.0)
    assert with_l1 < 0.5 * no_l1


# --- contractive ----------------------------------------------------------------------------

def brute_force_jacobian_norm(encoder, x):
    """||d code / d x||_F^2 per sample, one full Jacobian per image."""
    return torch.stack([torch.autograd.functional.jacobian(lambda v: encoder(v[None])[0], xi)
                        .pow(2).sum() for xi in x])


def test_contractive_closed_form_matches_brute_force():
    torch.manual_seed(0)
    enc = create_encoder("mlp", in_channels=1, image_size=4, code_dim=3, hidden=[], code="sigmoid")
    assert sigmoid_layer(enc) is enc.head.linear
    x = torch.rand(5, 1, 4, 4)
    fast = jacobian_norm_sigmoid(enc(x), enc.head.linear.weight)
    torch.testing.assert_close(fast, brute_force_jacobian_norm(enc, x))


@pytest.mark.parametrize("name,kwargs", [("mlp", {"hidden": [6, 5]}), ("conv", {"widths": [4]})])
def test_contractive_autograd_matches_brute_force(name, kwargs):
    torch.manual_seed(0)
    enc = create_encoder(name, in_channels=1, image_size=4, code_dim=3, **kwargs).eval()
    assert sigmoid_layer(enc) is None
    x = torch.rand(5, 1, 4, 4, requires_grad=True)
    fast = jacobian_norm_autograd(x, enc(x))
    torch.testing.assert_close(fast, brute_force_jacobian_norm(enc, x.detach()))
    fast.sum().backward()  # the penalty can be trained through
    assert enc.head.linear.weight.grad.abs().sum() > 0


def test_contractive_objective_reports_the_penalty_it_trains():
    torch.manual_seed(0)
    enc = create_encoder("mlp", in_channels=1, image_size=4, code_dim=3, hidden=[6]).eval()
    dec = create_decoder("mlp", out_channels=1, image_size=4, code_dim=3, hidden=[6]).eval()
    x = torch.rand(5, 1, 4, 4)
    terms = create_objective("contractive", weight=0.5)(enc, dec, x)
    expected = brute_force_jacobian_norm(enc, x).mean()
    torch.testing.assert_close(terms["jacobian_norm"], expected)
    torch.testing.assert_close(terms["loss"], terms["recon_loss"] + 0.5 * expected)
    with torch.no_grad():  # also outside autograd, e.g. in a validation loop
        torch.testing.assert_close(create_objective("contractive")(enc, dec, x)["jacobian_norm"],
                                   expected)


# --- VAE -----------------------------------------------------------------------------------

def test_gaussian_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(0)
    mean, log_var = torch.randn(3, 4), torch.randn(3, 4) * 0.5
    z = mean + (0.5 * log_var).exp() * torch.randn(200_000, 3, 4)
    posterior = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    prior = torch.distributions.Normal(0.0, 1.0)
    monte_carlo = (posterior.log_prob(z) - prior.log_prob(z)).sum(-1).mean(0)
    torch.testing.assert_close(gaussian_kl(mean, log_var), monte_carlo, rtol=0.02, atol=0.02)
    assert gaussian_kl(torch.zeros(2, 5), torch.zeros(2, 5)).abs().max() == 0


def test_reparameterisation_has_the_right_moments_and_gradients():
    torch.manual_seed(0)
    mean = torch.tensor([[1.0, -2.0]]).repeat(100_000, 1).requires_grad_()
    log_var = torch.tensor([[0.0, math.log(4.0)]]).repeat(100_000, 1).requires_grad_()
    z = reparameterise(mean, log_var)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0]), atol=0.03, rtol=0)
    z.sum().backward()
    assert mean.grad.eq(1).all() and log_var.grad.abs().sum() > 0


def test_vae_loss_is_the_negative_elbo_per_pixel():
    torch.manual_seed(0)
    objective = create_objective("vae", beta=2.0).eval()  # eval: the decoder sees the mean
    enc, dec = autoencoder(objective, name="conv")
    enc.eval(), dec.eval()
    x = torch.rand(6, 1, 8, 8)
    terms = objective(enc, dec, x)
    mean, log_var = enc.distribution(x)
    recon = nn.functional.binary_cross_entropy_with_logits(dec(mean), x, reduction="sum") / 6
    kl = gaussian_kl(mean, log_var).mean()
    torch.testing.assert_close(terms["loss"], (recon + 2.0 * kl) / 64)
    torch.testing.assert_close(terms["kl"], kl)


# --- masked --------------------------------------------------------------------------------

@pytest.mark.parametrize("size,patch,ratio", [(8, 2, 0.5), (28, 4, 0.75), (32, 8, 0.25)])
def test_mask_hides_whole_patches_in_the_right_fraction(size, patch, ratio):
    torch.manual_seed(0)
    mask = patch_mask(torch.Size((10, 3, size, size)), patch, ratio)
    assert mask.shape == (10, 1, size, size)
    patches = (size // patch) ** 2
    hidden = round(ratio * patches) / patches
    assert torch.allclose(mask.mean((1, 2, 3)), torch.full((10,), hidden))
    blocks = mask.unfold(2, patch, patch).unfold(3, patch, patch)  # (B, 1, rows, cols, p, p)
    assert torch.equal(blocks.amin((-1, -2)), blocks.amax((-1, -2)))  # constant on each patch
    assert not torch.equal(mask[0], mask[1])  # drawn per image


def test_masked_loss_ignores_visible_pixels_and_encoder_never_sees_hidden_ones():
    objective = Masked(mask_ratio=0.5, patch_size=2)
    x = torch.rand(4, 3, 8, 8)
    torch.manual_seed(1)
    mask = objective.make_mask(x).bool().expand_as(x)
    seen = []
    encoder = lambda inp: seen.append(inp) or inp  # noqa: E731

    def loss_with(decoded):
        torch.manual_seed(1)  # the same mask each call
        return objective(encoder, lambda z: decoded, x)["loss"]

    perfect = loss_with(x.clone())
    assert perfect == 0
    assert torch.equal(seen[-1][mask], torch.zeros(int(mask.sum())))
    assert torch.equal(seen[-1][~mask], x[~mask])
    wrong_visible = torch.where(mask, x, 1 - x)
    assert loss_with(wrong_visible) == 0
    wrong_hidden = torch.where(mask, x + 0.5, x)
    torch.testing.assert_close(loss_with(wrong_hidden), torch.tensor(0.25))


def test_masked_corruption_is_what_the_encoder_sees():
    """reconstruct shows an objective's corruption: for masked, the hidden patches."""
    objective = Masked(mask_ratio=0.5, patch_size=2, fill=0.0)
    x = torch.rand(4, 3, 8, 8) + 0.1  # no pixel is 0 before masking
    torch.manual_seed(1)
    shown = objective.corrupt(x)
    torch.manual_seed(1)
    mask = objective.make_mask(x).bool().expand_as(x)
    assert torch.equal(shown[mask], torch.zeros(int(mask.sum()))) and torch.equal(shown[~mask], x[~mask])
    assert (shown == 0).float().mean() == 0.5


def test_random_shift_moves_each_image_within_bounds():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 4, 4] = 1
    shifted = Denoising(noise="gaussian", strength=0.0, shift=1).corrupt(x)
    rows, cols = torch.nonzero(shifted[:, 0] == 1, as_tuple=True)[1:]
    assert shifted.sum() == 64  # every bright pixel survives, none is duplicated
    assert set(rows.tolist()) == {3, 4, 5} and set(cols.tolist()) == {3, 4, 5}


def test_random_turn_rotates_about_the_centre_and_keeps_the_ink():
    x = torch.zeros(16, 1, 28, 28)
    x[:, 0, 13:15, 6:22] = 1.0  # a horizontal bar through the centre
    turned = Denoising(noise="gaussian", strength=0.0, rotate=90).corrupt(x)
    assert torch.allclose(turned.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.05)
    grid = torch.arange(28.0)
    centre_row = (turned[:, 0].sum(2) * grid).sum(1) / turned.sum((1, 2, 3))
    assert torch.allclose(centre_row, torch.full((16,), 13.5), atol=0.3)
    height = (turned[:, 0].sum(2) > 0.5).sum(1)  # rows the bar covers: 2 unturned, up to 16 upright
    assert height.max() > 8 and len(set(height.tolist())) > 3  # each image got its own angle


def test_random_turn_rejects_impossible_settings():
    with pytest.raises(ValueError, match="scale in"):
        Denoising(scale=1.5)
    with pytest.raises(ValueError, match="rotate must be"):
        Denoising(rotate=-5)


def test_info_nce_rewards_codes_that_find_their_partner():
    codes = torch.eye(4)  # 4 orthogonal codes, each paired with itself
    # each of the 8 rows: similarity 1 / 0.1 to its partner, 0 to the 6 others
    torch.testing.assert_close(info_nce(codes, codes, 0.1), torch.log1p(6 * torch.exp(torch.tensor(-10.0))))
    swapped = info_nce(codes, codes[[1, 0, 3, 2]], 0.1)
    assert swapped > 10  # partners now point at another image's code


def test_contrast_encodes_two_corruptions_decodes_the_first_and_logs_both_terms():
    objective = Denoising(strength=0.1, shift=1, contrast=0.5)
    seen, decoded = [], []
    encoder = lambda inp: seen.append(inp) or inp.flatten(1)  # noqa: E731
    decoder = lambda z: decoded.append(z) or z.view(-1, 1, 8, 8)  # noqa: E731
    x = torch.rand(3, 1, 8, 8)
    terms = objective(encoder, decoder, x)
    assert seen[-1].shape == (6, 1, 8, 8) and not torch.equal(seen[-1][:3], seen[-1][3:])
    torch.testing.assert_close(decoded[-1], seen[-1][:3].flatten(1))  # the first view only
    torch.testing.assert_close(terms["recon_loss"], ((seen[-1][:3] - x) ** 2).mean())
    torch.testing.assert_close(terms["loss"], terms["recon_loss"] + 0.5 * terms["info_nce"])
    assert terms["recon"].shape == x.shape
    objective.eval()
    assert set(objective(encoder, decoder, x)) == {"loss", "recon"}
    assert torch.equal(seen[-1], x)


def test_siamese_decodes_the_first_view_to_its_clean_crop_and_matches_projected_codes():
    torch.manual_seed(0)
    objective = Siamese(min_area=0.3, jitter=0.4, jitter_p=1.0, noise=0.1, contrast=0.5,
                        projector=[6, 4])
    seen, decoded = [], []
    encoder = nn.Flatten()
    encoder.code_dim = 3 * 8 * 8
    objective.attach(encoder)
    decoder = lambda z: decoded.append(z) or z.view(-1, 3, 8, 8)  # noqa: E731
    x = torch.rand(5, 3, 8, 8)
    terms = objective(lambda inp: seen.append(inp) or encoder(inp), decoder, x)
    views = seen[-1]
    assert views.shape == (10, 3, 8, 8) and not torch.equal(views[:5], views[5:])
    torch.testing.assert_close(decoded[-1], views[:5].flatten(1))  # the first view only
    # the target is the view without its corruption: a crop of x, never the input itself
    target_error = terms["recon_loss"]
    assert 0 < float(target_error) < float(((views[:5] - x) ** 2).mean())
    torch.testing.assert_close(terms["loss"], terms["recon_loss"] + 0.5 * terms["info_nce"])
    assert objective.projector(torch.rand(2, 192)).shape == (2, 4)
    assert {k.split(".")[0] for k in objective.state_dict()} == {"projector"}


def test_siamese_views_at_a_smaller_side_are_decoded_at_the_full_side():
    torch.manual_seed(0)
    encoder = create_encoder("conv", in_channels=3, image_size=16, code_dim=4, widths=[4, 8],
                             pool=2)
    decoder = create_decoder("conv", out_channels=3, image_size=16, code_dim=4, widths=[8, 4])
    objective = Siamese(view_scale=0.75, projector=[8, 4])
    objective.attach(encoder)
    seen = []
    x = torch.rand(6, 3, 16, 16)
    terms = objective(lambda inp: seen.append(inp) or encoder(inp), decoder, x)
    assert seen[-1].shape == (12, 3, 12, 12) and terms["recon"].shape == (6, 3, 16, 16)
    assert torch.isfinite(terms["loss"])
    flat = create_encoder("conv", in_channels=3, image_size=16, code_dim=4, widths=[4, 8])
    mlp = create_encoder("mlp", in_channels=3, image_size=16, code_dim=4)
    for fixed in (flat, mlp):
        with pytest.raises(ValueError, match="view_scale 0.75 shows the encoder smaller views, "
                                             "which it cannot take"):
            Siamese(view_scale=0.75).attach(fixed)
    with pytest.raises(ValueError, match=r"view_scale must be in \(0, 1\], got 0"):
        Siamese(view_scale=0)


def test_siamese_without_reconstruction_never_calls_the_decoder():
    objective = Siamese(recon=0.0, projector=[])
    encoder = nn.Flatten()
    objective.attach(encoder)
    terms = objective(encoder, lambda z: pytest.fail("decoded"), torch.rand(4, 1, 8, 8))
    assert set(terms) == {"loss", "info_nce"}
    with pytest.raises(ValueError, match="not both 0"):
        Siamese(recon=0.0, contrast=0.0)


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

@pytest.mark.parametrize("options, message", [
    (["--model.encoder_kwargs", "{widths: [32, 64], code_dim: 16}"],
     r"model.encoder_kwargs: code_dim is set by the package"),
    (["--model.decoder_kwargs", "{widths: [64, 32], image_size: 8}"],
     r"model.decoder_kwargs: image_size is set by the package"),
    (["--model.encoder_kwargs", "{widths: []}"], r"conv encoder: widths must name at least one"),
    (["--model.decoder_kwargs", "{widths: []}"], r"conv decoder: widths must name at least one"),
    (["--model.encoder_kwargs", "{widths: [0, 64]}"],
     r"model.encoder_kwargs.widths must be a list of positive whole numbers"),
    (["--model.encoder", "mlp", "--model.encoder_kwargs", "{hidden: [0]}"],
     r"model.encoder_kwargs.hidden must be a list of positive"),
    (["--model.objective", "siamese", "--model.objective_kwargs", "{projector: [-1]}"],
     r"model.objective_kwargs.projector must be a list of positive"),
    (["--model.objective", "denoising", "--model.objective_kwargs", "{noise: mask, strength: 1.5}"],
     r"strength must be .* in \[0, 1\) \(the fraction of pixels hit\) for mask, got 1.5"),
    (["--model.objective", "denoising", "--model.objective_kwargs", "{strength: -0.5}"],
     r"strength must be >= 0"),
    (["--model.encoder_lr", "0"], r"model.encoder_lr is the learning rate of the weights the "
                                  r"encoder starts from .*with neither, the encoder starts random"),
])
def test_model_options_that_cannot_train_as_meant_are_refused_in_one_line(tmp_path, options,
                                                                           message):
    with pytest.raises(SystemExit, match=message):
        run_cli("pretrain", "--run-dir", tmp_path / "run", "--trainer.max_epochs", 1, *options)
    assert not (tmp_path / "run").exists()


def test_a_mask_hides_at_least_one_patch_and_never_all():
    from ssl_ae.objectives.masked import patch_mask

    few = patch_mask(torch.Size([4, 1, 8, 8]), 2, 0.03)  # round(0.03 * 16) = 0
    many = patch_mask(torch.Size([4, 1, 8, 8]), 2, 0.97)  # round(0.97 * 16) = 16
    assert (few.sum((1, 2, 3)) == 4).all() and (many.sum((1, 2, 3)) == 15 * 4).all()
    with pytest.raises(ValueError, match="makes a 8x8 image one patch"):
        patch_mask(torch.Size([4, 1, 8, 8]), 8, 0.5)


def test_a_vae_report_with_few_test_images_interpolates_fewer_pairs(tmp_path):
    import types

    import numpy as np

    from ssl_ae.data.splits import Split
    from ssl_ae.evaluation.report import write_report
    from ssl_ae.evaluation.results import Row
    from ssl_ae.generate import write_samples

    vae = pipeline.AutoencoderSpec(objective="vae").build((1, 8, 8))
    images = (torch.rand(24, 1, 8, 8) * 255).to(torch.uint8)
    with pytest.raises(ValueError, match="pairs=4 needs 8 test images, there are 6"):
        write_samples(vae, images[:6], tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written
    record = {"state_dict": vae.state_dict(), "hyper_parameters": dict(vae.hparams)}
    vae.on_save_checkpoint(record)
    (tmp_path / "pre").mkdir()
    torch.save(record, tmp_path / "pre" / "last.ckpt")
    targets = np.repeat(np.arange(3), 8)
    test = np.concatenate([np.flatnonzero(targets == c)[:2] for c in range(3)])  # 6 test images
    split = Split.make(targets, labels_per_class=2, seed=0, test=test, class_names=["a", "b", "c"])
    data = types.SimpleNamespace(source=types.SimpleNamespace(images=images, targets=targets,
                                                              classes=["a", "b", "c"]),
                                 split=split, image_shape=(1, 8, 8), source_name="few")
    write_report([Row("frozen encoder + linear head", True, 2, 0, 0.5, 0.5, 0.5, 0.1)],
                 tmp_path / "report", tmp_path / "pre" / "last.ckpt", data)
    assert (tmp_path / "report" / "interpolations.png").is_file()
