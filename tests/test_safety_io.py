"""Special files as inputs and outputs: FIFOs, pipes and devices read once or refused; outputs that would
destroy an input or the model refused; full and read-only file systems; a hostile config.json in a run
folder. Every case ends in a clean success or one line with exit code 2, nothing hung, nothing left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import cli_in_process, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = ["--epochs", "2", "--batch-size", "full", "--hidden", "8", "--quiet"]


def rows_csv(path: Path, n: int = 300, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    pd.DataFrame({"a": a, "b": rng.normal(size=n), "y": np.where(a > 0, "up", "down")}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished run folder trained on a CSV (target y), and that CSV."""
    root = tmp_path_factory.mktemp("trained")
    data = rows_csv(root / "rows.csv")
    result = cli_in_process("train", "--data", str(data), "--target", "y", "--out", str(root / "run"), *FAST)
    assert result.returncode == 0, result.stderr
    return root / "run", data


@pytest.fixture
def run_copy(trained, tmp_path):
    run, data = trained
    shutil.copytree(run, tmp_path / "run")
    shutil.copy(data, tmp_path / "rows.csv")
    return tmp_path / "run", tmp_path / "rows.csv"


def one_line_error(result) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def feed_fifo(path: Path, data: bytes) -> threading.Thread:
    """A writer thread for the FIFO at path (opening it blocks until the reader comes)."""
    def write():
        try:
            with open(path, "wb") as handle:
                handle.write(data)
        except BrokenPipeError:  # the reader stopped early (a refused pipe): expected
            pass

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------------------------------------- inputs


def test_a_fifo_is_read_once_even_past_the_sniffers_64_kib(tmp_path):
    # Issue 16 #3: the FIFO was opened three times (blank check, sniffer, pandas): the first reads drained it
    # and the header came from mid-file. 3000 rows is ~120 KB, past the sniffer's 64 KiB head.
    data = rows_csv(tmp_path / "rows.csv", n=3000).read_bytes()
    os.mkfifo(tmp_path / "fifo")
    writer = feed_fifo(tmp_path / "fifo", data)
    result = cli_in_process("train", "--data", str(tmp_path / "fifo"), "--target", "y", "--out",
                            str(tmp_path / "run"), *FAST)
    writer.join(10)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "model.json").read_text())["info"]["summary"]
    assert summary["n_rows"] == 3000


def test_process_substitution_is_read_once(tmp_path):
    data = rows_csv(tmp_path / "rows.csv", n=2000)
    command = (f"{sys.executable} -m torchclassify train --data <(cat {data}) --target y --out {tmp_path / 'run'} "
               + " ".join(FAST))
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run" / "model.json").read_text())["info"]["summary"]["n_rows"] == 2000


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_as_data_are_refused_before_a_byte_is_read(tmp_path, trained, device):
    run, _ = trained
    started = time.monotonic()
    for args in (["train", "--data", device, "--target", "y", "--out", str(tmp_path / "o"), *FAST],
                 ["predict", str(run), device], ["evaluate", str(run), "--data", device],
                 ["convert", device, str(tmp_path / "x.parquet")]):
        result = cli_in_process(*args)
        one_line_error(result)
        assert "character device" in result.stderr, result.stderr
    assert time.monotonic() - started < 30
    assert not any(tmp_path.iterdir())


def test_a_pipe_larger_than_the_cap_is_refused_in_one_line(tmp_path, monkeypatch):
    from torchclassify.data import tables

    monkeypatch.setattr(tables, "MAX_PIPE_BYTES", 50_000)
    data = rows_csv(tmp_path / "rows.csv", n=3000).read_bytes()
    os.mkfifo(tmp_path / "fifo")
    writer = feed_fifo(tmp_path / "fifo", data)
    result = cli_in_process("train", "--data", str(tmp_path / "fifo"), "--target", "y", "--out",
                            str(tmp_path / "o" / "run"), *FAST)
    writer.join(10)
    one_line_error(result)
    assert "write it to a file first" in result.stderr
    assert not (tmp_path / "o").exists()


def test_predict_reads_a_fifo_of_rows_once(tmp_path, trained):
    run, data = trained
    os.mkfifo(tmp_path / "fifo")
    writer = feed_fifo(tmp_path / "fifo", data.read_bytes())
    result = cli_in_process("predict", str(run), str(tmp_path / "fifo"), "--chunk-rows", "7")
    writer.join(10)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 301 and result.stdout.startswith("y\n")


def test_streaming_refuses_a_pipe(tmp_path):
    os.mkfifo(tmp_path / "rows.parquet")
    result = cli_in_process("train", "--data", str(tmp_path / "rows.parquet"), "--target", "y", "--stream",
                            "--out", str(tmp_path / "run"), *FAST)
    one_line_error(result)
    assert "pipe" in result.stderr


# ---------------------------------------------------------------------------------------------- outputs


def test_predict_never_writes_over_its_input_or_the_run(run_copy, tmp_path):
    # Issue 16 #2: `-o rows.csv` replaced its own input; `-o RUN/model.json` destroyed the model.
    run, data = run_copy
    before = {p: p.read_bytes() for p in [data, *run.iterdir()]}
    os.link(data, tmp_path / "same-inode.csv")
    for output in (data, tmp_path / "same-inode.csv", run / "model.json", run / "new.csv", run / "sub" / "p.csv"):
        one_line_error(cli_in_process("predict", str(run), str(data), "-o", str(output)))
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in before if p.parent == run)


def test_predict_into_an_existing_folder_is_one_line(run_copy, tmp_path):
    run, data = run_copy
    (tmp_path / "folder").mkdir()
    result = cli_in_process("predict", str(run), str(data), "-o", str(tmp_path / "folder"))
    one_line_error(result)
    assert "is a folder" in result.stderr


def test_a_failed_predict_removes_the_folders_it_created(run_copy, tmp_path):
    run, _ = run_copy
    bad = tmp_path / "bad.csv"
    bad.write_text("x,z\n1,2\n")  # lacks the trained columns
    result = cli_in_process("predict", str(run), str(bad), "-o", str(tmp_path / "new" / "deeper" / "p.csv"))
    one_line_error(result)
    assert not (tmp_path / "new").exists()


def test_outputs_stream_into_fifos_and_devices_without_replacing_them(run_copy, tmp_path):
    run, data = run_copy
    result = cli_in_process("predict", str(run), str(data), "-o", "/dev/null")
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not [n for n in os.listdir("/dev") if n.startswith(".null.tmp-")]
    os.mkfifo(tmp_path / "out.fifo")
    received = []
    reader = threading.Thread(target=lambda: received.append((tmp_path / "out.fifo").read_bytes()), daemon=True)
    reader.start()
    result = cli_in_process("predict", str(run), str(data), "-o", str(tmp_path / "out.fifo"))
    reader.join(10)
    assert result.returncode == 0, result.stderr
    assert received and received[0].decode().count("\n") == 301
    assert stat.S_ISFIFO(os.stat(tmp_path / "out.fifo").st_mode)


def test_report_and_plot_never_write_over_the_run_files(run_copy):
    run, data = run_copy
    config = json.loads((run / "config.json").read_text())
    config["data"]["source"] = str(data)  # the copy's own rows
    (run / "config.json").write_text(json.dumps(config))
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    for name in ("model.json", "model.safetensors", "config.json", "metrics.json", "history.csv"):
        one_line_error(cli_in_process("report", str(run), "-o", str(run / name)))
        one_line_error(cli_in_process("plot", str(run), "--kind", "curves", "-o", str(run / name)))
    one_line_error(cli_in_process("plot", str(run), "--kind", "curves", "-o", str(data)))  # the training rows
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_a_killed_predict_leaves_nothing_that_the_next_one_does_not_clean(run_copy, tmp_path):
    # Issue 16 #15: a SIGKILLed predict left a hidden .NAME.tmp-PID file that nothing removed.
    run, _ = run_copy
    big = rows_csv(tmp_path / "big.csv", n=20_000)
    output = tmp_path / "p.csv"
    process = subprocess.Popen([sys.executable, "-m", "torchclassify", "predict", str(run), str(big), "-o",
                                str(output), "--chunk-rows", "5"], stderr=subprocess.PIPE,
                               env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.monotonic() + 60
    while not [n for n in os.listdir(tmp_path) if n.startswith(".p.csv.tmp-")] and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".p.csv.tmp-")], "the kill came too late to test"
    assert not output.exists()
    result = cli_in_process("predict", str(run), str(big), "-o", str(output))
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["big.csv", "p.csv", "rows.csv", "run"]
    assert output.read_text().count("\n") == 20_001


# ------------------------------------------------------------------------------- full and read-only disks


@pytest.fixture
def mount_tmpfs(tmp_path):
    """mount(options) -> a folder on a fresh tmpfs (size=..., ro); skips where mounting is not allowed."""
    mounted = []

    def mount(options: str) -> Path:
        where = tmp_path / f"fs{len(mounted)}"
        where.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.decode().strip()[:80]}); "
                        "test_full_disk_inside_safetensors_is_one_line covers the message without a mount")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_full_disk_while_training_is_one_line_and_leaves_nothing(mount_tmpfs):
    # Issue 16 #7: SafetensorError ("No space left on device (os error 28)") was an internal error.
    disk = mount_tmpfs("size=600k")
    result = run_cli("train", "--data", "circles", "--n-samples", "200", "--epochs", "1", "--hidden", "400,400",
                     "--out", str(disk / "run"), "--quiet", timeout=120)
    one_line_error(result)
    assert "No space left on device" in result.stderr and ".tmp-" not in result.stderr
    assert os.listdir(disk) == []


def test_read_only_folders_are_one_line(mount_tmpfs, run_copy):
    run, data = run_copy
    disk = mount_tmpfs("size=1m,ro")
    for args in (["train", "--data", "circles", "--out", str(disk / "run"), *FAST],
                 ["predict", str(run), str(data), "-o", str(disk / "p.csv")],
                 ["predict", str(run), str(data), "-o", str(disk / "sub" / "p.csv")],
                 ["report", str(run), "-o", str(disk / "r.html")],
                 ["convert", str(data), str(disk / "x.parquet")]):
        result = cli_in_process(*args)
        one_line_error(result)
        assert "Read-only file system" in result.stderr and ".tmp-" not in result.stderr, result.stderr


def test_full_disk_inside_safetensors_is_one_line(monkeypatch, tmp_path):
    """The same message without a mount: safetensors' own error carries the errno in its text."""
    import safetensors.torch
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    result = cli_in_process("train", "--data", "circles", "--n-samples", "200", "--out", str(tmp_path / "run"), *FAST)
    one_line_error(result)
    assert "No space left on device" in result.stderr
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------- hostile config.json


def _deep(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


HOSTILE_CONFIGS = {
    "data_is_a_list": lambda p: p.write_text(json.dumps({"data": ["moons"], "model": {}, "train": {}})),
    "a_folder": lambda p: (p.unlink(), p.mkdir()),
    "deep_nesting": _deep,
    "digits_5000": lambda p: p.write_text('{"data": {"n_samples": ' + "9" * 5000 + "}}"),
    "huge_number": lambda p: p.write_text('{"data": {"source": "moons", "n_samples": 1e300}}'),
    "a_fifo": lambda p: (p.unlink(), os.mkfifo(p)),
    "binary": lambda p: p.write_bytes(bytes(range(256)) * 10),
    "not_an_object": lambda p: p.write_text("[1, 2, 3]"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CONFIGS))
def test_a_hostile_config_json_is_one_line_for_every_command(run_copy, case):
    # Issue 16 #4 and #7: a FIFO hung predict; lists, folders, deep nesting and 5000 digits were tracebacks.
    run, data = run_copy
    HOSTILE_CONFIGS[case](run / "config.json")
    for args in (["evaluate", str(run), "--data", str(data)], ["report", str(run)],
                 ["plot", str(run), "--kind", "curves"], ["train", "--config", str(run / "config.json"),
                                                          "--out", str(run.parent / "again")]):
        result = cli_in_process(*args)
        one_line_error(result)
    # predict reads only model.json (the target name is stored there): the rows are still predicted.
    result = cli_in_process("predict", str(run), str(data))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("y\n")
    assert not (run.parent / "again").exists()


def test_predict_of_an_older_folder_falls_back_to_a_checked_config_read(run_copy):
    run, data = run_copy
    model = json.loads((run / "model.json").read_text())
    del model["info"]["target"]  # as written before the target was stored in model.json
    (run / "model.json").write_text(json.dumps(model))
    result = cli_in_process("predict", str(run), str(data))
    assert result.returncode == 0 and result.stdout.startswith("y\n"), result.stderr
    HOSTILE_CONFIGS["data_is_a_list"](run / "config.json")
    one_line_error(cli_in_process("predict", str(run), str(data)))
