import pytest

from ssl_ae.rundir import STAGE_CHECKPOINT, run_folder, stage_folder


def write_stage(folder, text, **flags):
    with stage_folder(folder, **flags) as work:
        (work / "a.txt").write_text(text)


def checkpoint_in(work):
    (work / STAGE_CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
    (work / STAGE_CHECKPOINT).write_bytes(b"weights")


def test_failed_stage_keeps_earlier_results_and_its_checkpointed_partial(tmp_path):
    folder = tmp_path / "pretrain"
    write_stage(folder, "first")
    with pytest.raises(RuntimeError):
        with stage_folder(folder, overwrite=True) as work:
            (work / "a.txt").write_text("half")
            checkpoint_in(work)
            raise RuntimeError("crash")
    assert (folder / "a.txt").read_text() == "first"
    assert (tmp_path / "pretrain.partial" / "a.txt").read_text() == "half"


@pytest.mark.parametrize("resumable", [True, False])
def test_failure_before_any_checkpoint_leaves_no_partial(tmp_path, resumable):
    folder = tmp_path / "stage"
    with pytest.raises(ValueError):
        with stage_folder(folder, resumable=resumable) as work:
            (work / "a.txt").write_text("half")
            if not resumable:
                checkpoint_in(work)  # even with one: a stage without training cannot continue
            raise ValueError("bad setting")
    assert not tmp_path.joinpath("stage.partial").exists() and not folder.exists()
    write_stage(folder, "again")  # the corrected rerun needs no flag
    assert (folder / "a.txt").read_text() == "again"


def test_interrupted_stage_needs_resume_or_overwrite(tmp_path):
    folder = tmp_path / "pretrain"
    with pytest.raises(RuntimeError):
        with stage_folder(folder) as work:
            (work / "a.txt").write_text("half")
            checkpoint_in(work)
            raise RuntimeError("killed")
    with pytest.raises(FileExistsError, match="holds an interrupted run; pass --resume true"):
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


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        write_stage(tmp_path / "run", "x")


def test_overwritten_run_replaces_the_old_one_only_when_it_finishes(tmp_path):
    run = tmp_path / "run"
    write_stage(run / "pretrain", "old")
    write_stage(run / "finetune", "old")
    with pytest.raises(RuntimeError):
        with run_folder(run, overwrite=True) as work:
            write_stage(work / "pretrain", "new")
            raise RuntimeError("finetune failed")
    assert {p.name: (p / "a.txt").read_text() for p in run.iterdir()} == {"pretrain": "old",
                                                                           "finetune": "old"}
    with run_folder(run, resume=True) as work:  # continues the new run, then swaps it in
        assert (work / "pretrain" / "a.txt").read_text() == "new"
        write_stage(work / "finetune", "new")
    assert {p.name: (p / "a.txt").read_text() for p in run.iterdir()} == {"pretrain": "new",
                                                                           "finetune": "new"}
    assert not (tmp_path / "run.partial").exists()
