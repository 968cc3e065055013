"""The thirteenth round's hostile pass (beyond messy tables): each case ends in one line with exit code 2, or a
clean success, with nothing lost. Data-loss paths first."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import cli_in_process, one_line

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = ["--epochs", "2", "--batch-size", "full", "--hidden", "4", "--quiet"]


def _table(path: Path, n: int = 80, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": np.where(x[:, 0] > 0, "yes", "no")}).to_csv(path, index=False)
    return path


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path):
    # --out onto the folder holding the data, with --overwrite: train.csv and notes.txt were deleted, exit 0.
    data = _table(tmp_path / "mydata" / "train.csv")
    (tmp_path / "mydata" / "notes.txt").write_text("important")
    before = _files(tmp_path / "mydata")
    one_line(cli_in_process("train", "--data", str(data), "--target", "y", *FAST, "--out", str(tmp_path / "mydata"),
                            "--overwrite"), "is not a run folder")
    assert _files(tmp_path / "mydata") == before
    # Review: a config.json of another program's made any folder qualify.
    (tmp_path / "app" / "src").mkdir(parents=True)
    (tmp_path / "app" / "config.json").write_text('{"name": "my app"}')
    (tmp_path / "app" / "src" / "main.py").write_text("print('hi')")
    one_line(cli_in_process("train", "--data", str(data), "--target", "y", *FAST, "--out", str(tmp_path / "app"),
                            "--overwrite"), "is not a run folder")
    assert (tmp_path / "app" / "src" / "main.py").exists()


def test_overwrite_refuses_a_run_folder_holding_the_data_or_the_working_directory(tmp_path):
    run = tmp_path / "run"
    data = _table(tmp_path / "train.csv")
    assert cli_in_process("train", "--data", str(data), "--target", "y", *FAST, "--out", str(run)).returncode == 0
    inside = _table(run / "more.csv", seed=1)  # a run folder the user put data into
    before = _files(run)
    one_line(cli_in_process("train", "--data", str(inside), "--target", "y", *FAST, "--out", str(run),
                            "--overwrite"), "which --overwrite would delete")
    (run / "work").mkdir()
    one_line(cli_in_process("train", "--data", str(data), "--target", "y", *FAST, "--out", "../../run",
                            "--overwrite", cwd=run / "work"), "which --overwrite would delete")
    (run / "work").rmdir()
    assert _files(run) == before
    # The control: an earlier run is replaced, as --overwrite promises.
    assert cli_in_process("train", "--data", str(data), "--target", "y", *FAST, "--out", str(run),
                          "--overwrite").returncode == 0
    assert not (run / "more.csv").exists() and (run / "model.json").exists()


def test_a_comparison_on_data_that_changed_is_not_continued(tmp_path):
    # Rerunning compare after the file was rewritten reused every finished run, trained on the old rows.
    data = _table(tmp_path / "d.csv")
    command = ["compare", "--data", str(data), "--target", "y", *FAST[:-1], "--vary", "dropout", "0", "0.1",
               "--out", str(tmp_path / "cmp")]
    assert cli_in_process(*command).returncode == 0
    assert "2 of 2 runs already finished are reused" in cli_in_process(*command).stderr  # same data: continued
    _table(data, n=120, seed=3)
    one_line(cli_in_process(*command, "--quiet"), "the data changed since", "d.csv", "--overwrite")
    assert cli_in_process(*command, "--overwrite").returncode == 0
    assert "2 of 2 runs already finished are reused" in cli_in_process(*command).stderr


def test_a_comparison_or_a_search_refuses_a_pipe_instead_of_waiting_for_it_forever(tmp_path):
    # The first run read the FIFO whole; the second opened it again and blocked, waiting for a writer.
    import os

    fifo = tmp_path / "rows"
    os.mkfifo(fifo)
    result = cli_in_process("compare", "--data", str(fifo), "--target", "y", *FAST, "--vary", "dropout", "0", "0.1",
                            "--out", str(tmp_path / "cmp"))
    one_line(result, "is a pipe, which can be read only once", "write it to a file first")
    assert not (tmp_path / "cmp").exists()
    result = cli_in_process("tune", "--data", str(fifo), "--target", "y", "--trials", "2", "--epochs", "2",
                            "--out", str(tmp_path / "search"), "--quiet")
    one_line(result, "is a pipe", "each trial of a search")
    assert not (tmp_path / "search").exists()


def test_an_image_comparison_continues_past_files_it_never_reads_but_not_past_an_edited_image(tmp_path):
    from torchclassify.data.image_export import export_digits_images

    export_digits_images(tmp_path / "imgs", limit_per_class=4)
    command = ["compare", "--data", str(tmp_path / "imgs"), "--epochs", "1", "--hidden", "4", "--conv", "2",
               "--vary", "dropout", "0", "0.1", "--out", str(tmp_path / "cmp")]
    assert cli_in_process(*command, "--quiet").returncode == 0
    (tmp_path / "imgs" / "README.txt").write_text("how these were made")  # find_images skips these
    (tmp_path / "imgs" / "3" / ".DS_Store").write_bytes(b"\0")
    image = sorted((tmp_path / "imgs" / "3").glob("*.png"))[0]
    os.utime(image, ns=(0, 0))  # a copy or checkout that does not keep times: the same bytes
    assert "2 of 2 runs already finished are reused" in cli_in_process(*command).stderr
    image.write_bytes(sorted((tmp_path / "imgs" / "5").glob("*.png"))[0].read_bytes())
    one_line(cli_in_process(*command, "--quiet"), "the data changed since")


def test_a_comparison_on_a_table_of_image_paths_is_not_continued_past_an_edited_image(tmp_path):
    # The table's bytes were its identity: an image it lists could be replaced and the finished runs reused.
    from torchclassify.data.image_export import export_digits_images

    export_digits_images(tmp_path / "imgs", limit_per_class=4)
    images = sorted((tmp_path / "imgs").glob("*/*.png"))
    pd.DataFrame({"file": [str(p.relative_to(tmp_path)) for p in images],
                  "digit": [p.parent.name for p in images]}).to_csv(tmp_path / "list.csv", index=False)
    command = ["compare", "--data", str(tmp_path / "list.csv"), "--target", "digit", "--epochs", "1", "--hidden",
               "4", "--conv", "2", "--vary", "dropout", "0", "0.1", "--out", str(tmp_path / "cmp")]
    assert cli_in_process(*command, "--quiet").returncode == 0
    assert "2 of 2 runs already finished are reused" in cli_in_process(*command).stderr
    images[0].write_bytes(images[-1].read_bytes())
    one_line(cli_in_process(*command, "--quiet"), "the data changed since", "list.csv")
