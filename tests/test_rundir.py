import pytest

from ssl_ae.rundir import stage_folder


def write_stage(folder, text, **flags):
    with stage_folder(folder, **flags) as work:
        (work / "a.txt").write_text(text)


def test_failed_stage_keeps_earlier_results_and_marks_its_own_partial(tmp_path):
    folder = tmp_path / "pretrain"
    write_stage(folder, "first")
    with pytest.raises(RuntimeError):
        with stage_folder(folder, overwrite=True) as work:
            (work / "a.txt").write_text("half")
            raise RuntimeError("crash")
    assert (folder / "a.txt").read_text() == "first"
    assert (tmp_path / "pretrain.partial" / "a.txt").read_text() == "half"


def test_interrupted_stage_needs_resume_or_overwrite(tmp_path):
    folder = tmp_path / "pretrain"
    with pytest.raises(RuntimeError):
        with stage_folder(folder) as work:
            (work / "a.txt").write_text("half")
            raise RuntimeError("killed")
    with pytest.raises(FileExistsError, match="holds an interrupted run; pass --resume"):
        write_stage(folder, "again")
    with stage_folder(folder, resume=True) as work:
        assert (work / "a.txt").read_text() == "half"
    assert (folder / "a.txt").read_text() == "half"
    assert not (tmp_path / "pretrain.partial").exists()


def test_existing_results_need_overwrite(tmp_path):
    folder = tmp_path / "pretrain"
    write_stage(folder, "first")
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        write_stage(folder, "second")
    with stage_folder(folder, overwrite=True) as work:
        (work / "b.txt").write_text("second")
    assert sorted(p.name for p in folder.iterdir()) == ["b.txt"]
