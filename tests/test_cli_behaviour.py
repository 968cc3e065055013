"""How the command line behaves for every command: the same --quiet/--debug, no abbreviations, a suggestion for a
mistyped flag, help on every flag, only the flags a command uses, a progress bar that fits 80 columns, run
folders that follow the umask, a short repr(run), and README examples that do what they say."""

from __future__ import annotations

import argparse
import io
import os
import re
import shlex
import stat
from pathlib import Path

import pytest

import torchclassify as tc
from conftest import cli_in_process
from torchclassify.cli import build_parser
from torchclassify.config import SETTINGS, flag_of

ROOT = Path(__file__).parents[1]
PARSERS = build_parser()[2]


def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_every_command_has_quiet_and_debug_and_help_on_every_flag(command):
    parser = PARSERS[command]
    flags = _flags(parser)
    assert "--quiet" in flags and "--debug" in flags
    for action in parser._actions:
        assert action.help and action.help.strip() and action.help != argparse.SUPPRESS, (command, action.dest)


def test_tune_quiet_prints_no_progress(tmp_path):
    result = cli_in_process("tune", "--data", "circles", "--n-samples", "120", "--trials", "2", "--epochs", "2",
                            "--hidden", "4", "--no-retrain", "--quiet", "--out", "study", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not re.search(r"^(trial \d|searching)", result.stderr, re.M), result.stderr  # no per-trial lines
    assert "study torchclassify: 2 trials" in result.stdout


@pytest.mark.parametrize("argv, wrong", [(["train", "--epoch", "3"], "--epoch"), (["train", "--dat", "circles"], "--dat"),
                                         (["tune", "--trial", "3"], "--trial"), (["lr-find", "--step", "5"], "--step")])
def test_abbreviations_are_errors(argv, wrong):
    result = cli_in_process(*argv)
    assert result.returncode == 2 and result.stdout == ""
    assert f"unrecognized arguments: {wrong}" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("argv, hint", [(["train", "--lr-rate", "0.1"], "--lr-rate: did you mean --lr?"),
                                        (["train", "--epoch", "3"], "--epoch: did you mean --epochs?"),
                                        (["predict", "RUN", "ROWS", "--prob"], "--prob: did you mean --proba?")])
def test_a_mistyped_flag_names_the_closest(argv, hint):
    result = cli_in_process(*argv)
    assert result.returncode == 2 and hint in result.stderr


def test_lr_find_lists_only_the_flags_it_uses():
    flags = _flags(PARSERS["lr-find"])
    for unused in ("epochs", "early_stopping", "patience", "lr", "schedule", "threshold"):
        assert flag_of(unused) not in flags, unused
    for used in ("optimizer", "batch_size", "hidden", "source", "seed"):
        assert flag_of(used) in flags, used
    help_text = PARSERS["lr-find"].format_help()
    assert "--epochs" not in help_text and "--early-stopping" not in help_text


@pytest.mark.parametrize("command", ["evaluate", "predict", "plot", "report", "inspect", "convert", "datasets"])
def test_commands_on_a_trained_run_offer_no_training_settings(command):
    flags = _flags(PARSERS[command])
    assert not {"--epochs", "--lr", "--early-stopping", "--optimizer", "--hidden", "--batch-size"} & set(flags)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_progress_bar_keeps_epochs_time_and_eta_at_80_columns(monkeypatch):
    from torchclassify.engine.callbacks import ProgressPrinter

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = _Terminal()
    printer = ProgressPrinter("auto", stream=stream)
    assert printer.mode == "bar"
    tc.train(data="circles", n_samples=200, epochs=7, hidden=[4], progress="quiet", callbacks=[printer])
    frames = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", frame) for frame in stream.getvalue().split("\r")]
    frames = [frame.strip("\n") for frame in frames if frame.startswith("epoch")]
    assert frames, stream.getvalue()
    last = frames[-1]
    assert re.search(r"epoch\s+7/7\b.*\d+:\d\d:\d\d eta (\d+:\d\d:\d\d|-:--:--) train_loss", last), last
    assert all(len(frame) <= 80 for frame in frames), max(frames, key=len)
    assert "…" in last or "valid_accuracy" in last  # the metrics give way at 80 columns, the counts do not


def test_repr_of_a_run_is_one_short_line():
    run = tc.train(data="circles", n_samples=120, epochs=30, hidden=[4], progress="quiet")
    text = repr(run)
    assert len(run.history) == 30 and "\n" not in text and len(text) < 160, text
    assert text.startswith("Run('circles', binary, 30 epochs") and "train_loss" not in text


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_run_folders_follow_the_umask(tmp_path, mask):
    before = os.umask(mask)
    try:
        tc.train(data="circles", n_samples=120, epochs=2, hidden=[4], progress="quiet", out=tmp_path / "run")
        result = cli_in_process("inspect", str(tmp_path / "run"), "--repeats", "1", "-o",
                                str(tmp_path / "inspect.json"))
    finally:
        os.umask(before)
    assert result.returncode == 0, result.stderr
    paths = [tmp_path / "run", *(tmp_path / "run").iterdir(), tmp_path / "inspect.json"]
    assert len(paths) >= 7
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o777 if path.is_dir() else 0o666) & ~mask, (path.name, oct(mode))


def _readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    return [shlex.split(line.split("#")[0]) for line in text.splitlines()
            if line.strip().startswith("torchclassify ")]


def test_readme_examples_that_change_a_setting_change_it():
    """`train --config RUN/config.json --lr X` retrains with X: it must differ from the run's (default) lr."""
    overrides = [argv for argv in _readme_commands() if argv[1] == "train" and "--config" in argv]
    assert overrides
    for argv in overrides:
        args = build_parser()[0].parse_args(argv[1:])
        given = {name: getattr(args, name) for name in SETTINGS if getattr(args, name, None) is not None}
        assert given, argv
        for name, value in given.items():
            assert value != spec_default(name), (argv, name)


def spec_default(name: str):
    import dataclasses

    from torchclassify.config import SECTIONS

    for klass in SECTIONS.values():
        for f in dataclasses.fields(klass):
            if f.name == name:
                return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    raise KeyError(name)


def test_the_readme_grid_file_is_the_readme_comparison():
    from torchclassify.compare import expand_grid, read_grid_file

    commands = [argv for argv in _readme_commands() if argv[1] == "compare"]
    by_flags = next(argv for argv in commands if "--vary" in argv)
    by_file = next(argv for argv in commands if "--grid" in argv)
    grid_path = ROOT / by_file[by_file.index("--grid") + 1]
    assert grid_path == ROOT / "examples" / "grid.toml" and grid_path.exists()
    raw = read_grid_file(grid_path)
    args = build_parser()[0].parse_args(by_flags[1:])
    flags_base = {name: getattr(args, name) for name in SETTINGS if getattr(args, name, None) is not None}
    from torchclassify.config import parse_setting, setting_name

    file_base = {setting_name(k): parse_setting(setting_name(k), str(v)) for k, v in raw["base"].items()}
    assert file_base == flags_base
    assert expand_grid(raw["grid"]) == expand_grid({entry[0]: entry[1:] for entry in args.vary})
    assert raw["seeds"] == args.seeds


def test_a_command_flag_before_the_command_says_where_it_goes():
    # Review: `torchclassify --quiet train` said "unrecognized arguments: --quiet (did you mean --quiet?)".
    result = cli_in_process("--quiet", "datasets")
    assert result.returncode == 2 and "--quiet goes after the command: torchclassify datasets --quiet" in result.stderr


def test_ctrl_c_gives_the_terminal_its_cursor_back():
    # Review: an interrupted run left rich's bar live and the cursor hidden (no try/finally around the epochs).
    from torchclassify.engine.callbacks import Callback, ProgressPrinter

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    class CtrlC(Callback):
        def on_epoch_end(self, state):
            if state.epoch == 2:
                raise KeyboardInterrupt

    terminal = Terminal()
    printer = ProgressPrinter("bar", stream=terminal)
    with pytest.raises(KeyboardInterrupt):
        tc.train(data="circles", n_samples=100, epochs=5, hidden=[4], progress="quiet", callbacks=[CtrlC(), printer])
    assert printer.progress is None and "\x1b[?25h" in terminal.getvalue()  # the bar stopped: cursor shown


def test_evaluate_picks_a_split_the_run_has_and_names_the_missing_one(tmp_path):
    # Review: evaluate on a run trained with --test-size 0 said "the target has no rows: the data is empty".
    run = tmp_path / "no-test"
    assert cli_in_process("train", "--data", "moons", "--n-samples", "200", "--epochs", "2", "--test-size", "0",
                          "--out", str(run), "--quiet").returncode == 0
    default = cli_in_process("evaluate", str(run))
    assert default.returncode == 0 and "evaluated the valid split" in default.stderr and "moons:valid" in default.stdout
    asked = cli_in_process("evaluate", str(run), "--split", "test")
    assert asked.returncode == 2
    assert asked.stderr.strip() == ("error: the run has no test rows (it was trained with --test-size 0): choose "
                                    "--split valid or train, or give --data FILE with labelled rows")
