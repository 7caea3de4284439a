import pytest
import torch

from ssl_ae.nets import create_decoder, create_encoder
from ssl_ae.objectives import Denoising, create_objective, list_objectives

VARIANTS = [("plain", {}), ("plain", {"loss": "bce"}), ("plain", {"loss": "l1"}),
            ("denoising", {"noise": "gaussian"}), ("denoising", {"noise": "salt_pepper"}),
            ("denoising", {"noise": "mask"})]


def test_every_registered_objective_is_covered():
    assert {name for name, _ in VARIANTS} == set(list_objectives())


@pytest.mark.parametrize("name,kwargs", VARIANTS)
def test_loss_falls(name, kwargs):
    torch.manual_seed(0)
    enc = create_encoder("conv", in_channels=1, image_size=8, code_dim=8)
    dec = create_decoder("conv", out_channels=1, image_size=8, code_dim=8)
    objective = create_objective(name, **kwargs)
    x = torch.rand(32, 1, 8, 8).round()
    params = [*enc.parameters(), *dec.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)
    losses = []
    for _ in range(40):
        loss = objective(enc, dec, x)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


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


def test_unknown_loss_and_noise_rejected():
    with pytest.raises(ValueError, match="unknown loss 'huber'"):
        create_objective("plain", loss="huber")
    with pytest.raises(ValueError, match="unknown noise 'blur'"):
        create_objective("denoising", noise="blur")


def test_random_shift_moves_each_image_within_bounds():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 4, 4] = 1
    shifted = Denoising(noise="gaussian", strength=0.0, shift=1).corrupt(x)
    rows, cols = torch.nonzero(shifted[:, 0] == 1, as_tuple=True)[1:]
    assert shifted.sum() == 64  # every bright pixel survives, none is duplicated
    assert set(rows.tolist()) == {3, 4, 5} and set(cols.tolist()) == {3, 4, 5}
