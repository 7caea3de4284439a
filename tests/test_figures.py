"""The report's figures: layouts that say what their titles say, at every size."""
import numpy as np
import torch
from torch import nn

from ssl_ae.evaluation import figures


def test_reconstructions_keep_each_row_of_originals_above_its_reconstructions(tmp_path,
                                                                            monkeypatch):
    grids = []
    monkeypatch.setattr(figures, "save_figure", lambda grid, path, title: grids.append(grid))
    white = torch.full((12, 1, 4, 4), 255, dtype=torch.uint8)
    black = nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.Unflatten(1, (1, 4, 4)))
    nn.init.zeros_(black[1].weight), nn.init.zeros_(black[1].bias)  # reconstructs all black
    figures.save_reconstructions(black, white, tmp_path / "recon.png")
    cells = grids[0][::5, ::5, 0]  # one pixel per 4 px image and its 1 px gap
    assert cells.shape == (4, 8)
    assert (cells[0] == 1).all() and (cells[1] == 0).all()  # 8 originals above 8 reconstructions
    assert (cells[2, :4] == 1).all() and (cells[3, :4] == 0).all()  # the last 4: a pair of rows
    assert (cells[2:, 4:] == 1).all()  # and blank cells after them


def test_a_one_number_code_gets_its_feature_maps(tmp_path):
    rng = np.random.default_rng(0)
    codes, targets = rng.normal(size=(60, 1)), np.repeat(np.arange(3), 20)
    figures.feature_map(codes, targets, np.arange(0, 60, 10), tmp_path / "maps.png")
    assert (tmp_path / "maps.png").stat().st_size > 0
