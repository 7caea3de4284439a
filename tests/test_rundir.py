import pytest

from ssl_ae.rundir import stage_folder


def test_failed_stage_leaves_nothing_and_keeps_earlier_results(tmp_path):
    folder = tmp_path / "pretrain"
    with stage_folder(folder) as work:
        (work / "a.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with stage_folder(folder, overwrite=True) as work:
            (work / "a.txt").write_text("half")
            raise RuntimeError("crash")
    assert (folder / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pretrain"]


def test_existing_results_need_overwrite(tmp_path):
    folder = tmp_path / "pretrain"
    with stage_folder(folder) as work:
        (work / "a.txt").write_text("first")
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        with stage_folder(folder):
            pass
    with stage_folder(folder, overwrite=True) as work:
        (work / "b.txt").write_text("second")
    assert sorted(p.name for p in folder.iterdir()) == ["b.txt"]
