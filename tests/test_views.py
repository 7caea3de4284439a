"""Batched views: crops, mirror images, colour jitter and greyscale, one draw per image."""
import math

import pytest
import torch

from ssl_ae.objectives.views import LUMA, colour_jitter, grey, hue_rotation, random_grey, resized_crop


def ramp(n: int = 64, size: int = 16) -> torch.Tensor:
    """Images whose value grows from left to right, 0 to 1, in every channel."""
    return torch.linspace(0, 1, size).expand(n, 3, size, size).clone()


def test_full_crop_without_flip_is_the_identity_and_flip_mirrors_half():
    x = torch.rand(200, 3, 8, 8)
    assert torch.equal(resized_crop(x, 1.0, flip=False), x)
    torch.manual_seed(0)
    out = resized_crop(x, 1.0, flip=True)
    mirrored = torch.isclose(out, x.flip(-1), atol=1e-5).flatten(1).all(1)
    same = torch.isclose(out, x, atol=1e-5).flatten(1).all(1)
    assert bool((mirrored | same).all()) and 70 < int(mirrored.sum()) < 130


@pytest.mark.parametrize("min_area", [0.2, 0.5])
def test_crops_cover_at_least_min_area_within_the_aspect_ratios(min_area):
    torch.manual_seed(0)
    x = ramp(400)
    x[:, 1] = x[:, 1].transpose(1, 2).clone()  # channel 1 grows from top to bottom
    out = resized_crop(x, min_area, flip=False)
    # the fraction of each side the crop spans: the ramp's rise from its first to last pixel
    width = out[:, 0, 0, -1] - out[:, 0, 0, 0]
    height = out[:, 1, -1, 0] - out[:, 1, 0, 0]
    area, ratio = width * height, width / height
    assert float(area.min()) >= min_area - 0.01 and float(area.max()) <= 1 + 1e-4
    assert float(area.min()) < min_area + 0.1  # small crops do occur
    # (crops that reach the border read a reflected ramp there, a little flatter: 0.03 of slack)
    assert float(ratio.min()) >= 3 / 4 - 0.03 and float(ratio.max()) <= 4 / 3 + 0.03


def test_hue_rotation_keeps_grey_and_luma_and_turns_like_an_angle():
    angle = torch.tensor([0.0, 0.7, -2.0])
    turn = hue_rotation(angle)
    torch.testing.assert_close(turn[0], torch.eye(3), atol=1e-5, rtol=0)
    assert (turn[1] - torch.eye(3)).abs().max() > 0.1
    torch.testing.assert_close(turn[1] @ turn[2], hue_rotation(torch.tensor([-1.3]))[0],
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(hue_rotation(torch.tensor([2 * math.pi]))[0], torch.eye(3),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(turn @ torch.full((3, 3, 1), 0.4), torch.full((3, 3, 1), 0.4),
                               atol=1e-5, rtol=0)
    colour = torch.rand(3, 3, 1)
    luma = torch.tensor(LUMA)
    torch.testing.assert_close(luma @ (turn @ colour), luma @ colour, atol=1e-5, rtol=0)


def test_colour_jitter_changes_each_hit_image_within_range():
    torch.manual_seed(0)
    x = torch.rand(32, 3, 8, 8)
    assert torch.equal(colour_jitter(x, 0.4, 0.0), x)
    out = colour_jitter(x, 0.4, 1.0)
    assert out.min() >= 0 and out.max() <= 1
    assert bool((out - x).abs().flatten(1).amax(1).gt(1e-3).all())
    grey_in = x[:, :1]
    assert colour_jitter(grey_in, 0.4, 1.0).shape == grey_in.shape


def test_random_grey_gives_luma_in_every_channel():
    x = torch.rand(16, 3, 4, 4)
    out = random_grey(x, 1.0)
    torch.testing.assert_close(out, grey(x).expand_as(x))
    assert torch.equal(random_grey(x, 0.0), x)
    assert torch.equal(random_grey(x[:, :1], 1.0), x[:, :1])
