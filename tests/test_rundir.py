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


def test_overwriting_a_run_keeps_what_other_commands_wrote_into_its_folder(tmp_path):
    run = tmp_path / "run"
    write_stage(run / "pretrain", "old")
    (run / "select").mkdir()
    (run / "select" / "to_label.csv").write_text("path,label\n0.png,3\n")  # filled in by hand
    with run_folder(run, overwrite=True) as work:
        write_stage(work / "pretrain", "new")
    assert (run / "pretrain" / "a.txt").read_text() == "new"
    assert (run / "select" / "to_label.csv").read_text() == "path,label\n0.png,3\n"


def test_a_run_killed_before_its_first_checkpoint_is_simply_run_again(tmp_path):
    run = tmp_path / "run"
    (run / "pretrain.partial" / "lightning_logs").mkdir(parents=True)  # a kill -9 left this
    with run_folder(run) as work:
        write_stage(work / "pretrain", "new")
    assert sorted(p.name for p in run.iterdir()) == ["pretrain"]
    checkpoint_in(run / "finetune.partial")
    with pytest.raises(FileExistsError, match=r"finetune.partial holds an interrupted run; pass "
                                              "--resume true to continue it"):
        with run_folder(run):
            pass


def test_the_current_folder_may_be_the_run_folder(tmp_path, monkeypatch):
    from ssl_ae.rundir import new_run_dir, partial_folder

    monkeypatch.chdir(tmp_path)
    assert new_run_dir(".") == tmp_path and partial_folder(new_run_dir(".")).name == (
        tmp_path.name + ".partial")


def test_a_checkpoint_copied_elsewhere_does_not_take_a_split_file_two_folders_up(tmp_path):
    from ssl_ae.rundir import saved_split

    (tmp_path / "pretrain").mkdir()
    (tmp_path / "pretrain" / "split.json").write_text("{}")
    checkpoint_in(tmp_path / "pretrain")
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "enc.ckpt").write_bytes(b"weights")
    assert saved_split(tmp_path / "exports" / "enc.ckpt") is None
    assert saved_split(tmp_path / "pretrain" / STAGE_CHECKPOINT) == tmp_path / "pretrain" / "split.json"
    assert saved_split(tmp_path) == tmp_path / "pretrain" / "split.json"


def test_metrics_of_a_resume_killed_before_it_joined_them_are_joined_at_the_next(tmp_path):
    from ssl_ae.pipeline import join_metrics

    def write(path, epochs):
        path.write_text("epoch,train/loss_epoch\n" + "".join(f"{e},{e / 10}\n" for e in epochs))

    write(tmp_path / "metrics.before_resume.csv", [0, 1, 2, 3])  # epoch 3 logged, not saved
    write(tmp_path / "metrics.csv", [3, 4])  # the killed resume began at epoch 3
    join_metrics(tmp_path / "metrics.before_resume.csv", tmp_path / "metrics.csv", None)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3", "4"]
    assert not (tmp_path / "metrics.before_resume.csv").exists()


@pytest.mark.parametrize("flags", [{}, {"overwrite": True}, {"resume": True}])
def test_a_second_command_on_a_stage_being_written_is_refused_and_touches_nothing(tmp_path, flags):
    folder = tmp_path / "pretrain"
    with stage_folder(folder) as work:  # the first command, still training
        checkpoint_in(work)
        with pytest.raises(FileExistsError, match=r"another command is writing .*pretrain.partial"):
            write_stage(folder, "second", **flags)
        assert (work / STAGE_CHECKPOINT).read_bytes() == b"weights"
        (work / "a.txt").write_text("first")
    assert (folder / "a.txt").read_text() == "first"


def test_a_second_overwrite_of_a_run_being_replaced_is_refused(tmp_path):
    run = tmp_path / "run"
    write_stage(run / "pretrain", "old")
    with run_folder(run, overwrite=True) as work:
        write_stage(work / "pretrain", "new")
        with pytest.raises(FileExistsError, match=r"another command is writing .*run.partial"):
            with run_folder(run, overwrite=True):
                pass
        assert (work / "pretrain" / "a.txt").read_text() == "new"
    assert (run / "pretrain" / "a.txt").read_text() == "new"
