"""Flags shared by several commands, derived from the setting descriptions in config.py.

Every run setting's flag, type, choices and help text come from its `config.Setting`: nothing here
restates a choice list or a range, so the parser cannot drift from the library.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
from contextlib import contextmanager
from pathlib import Path

from ..config import SECTIONS, SETTINGS, RunConfig, flag_of, format_setting, make_config, parse_setting
from ..errors import ConfigError
from ..tracking import TRACKERS

_GROUP_TITLES = {"data": "data", "model": "model", "train": "training"}


def add_setting_arguments(parser: argparse.ArgumentParser, exclude: tuple[str, ...] = ()) -> None:
    """One flag per run setting (except `exclude`), grouped as data / model / training.

    Every default is None: only the flags a user gives override --config or the library's defaults.
    """
    for section, klass in SECTIONS.items():
        group = parser.add_argument_group(_GROUP_TITLES[section])
        for f in dataclasses.fields(klass):
            if f.name not in exclude:
                _add_setting(group, f)


def _add_setting(group, f: dataclasses.Field) -> None:
    s = f.metadata["setting"]
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    shown = "" if default is None else f" (default: {format_setting(default)})"
    kwargs = {"dest": f.name, "default": None, "help": s.help + shown}
    if s.kind == "bool":
        kwargs["action"] = argparse.BooleanOptionalAction
    elif s.kind == "choice":
        kwargs["choices"] = s.choices
    else:
        kwargs["type"] = setting_type(f.name)
        if s.metavar:
            kwargs["metavar"] = s.metavar
    group.add_argument(flag_of(f.name), **kwargs)


def output_path(text: str) -> Path:
    """An argparse `type` for --out / -o: a path, never an empty one (Path("") would be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a path")
    return Path(text)


def setting_type(name: str):
    """An argparse `type` that parses text as config.parse_setting does (one message for both)."""
    def parse(text: str):
        try:
            return parse_setting(name, text)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = name
    return parse


def given_settings(args: argparse.Namespace) -> dict:
    """The run settings given as flags: {setting name: value}."""
    return {name: getattr(args, name) for name in SETTINGS if getattr(args, name, None) is not None}


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig that --config plus the given flags describe (flags win)."""
    from ..files import read_json

    base = None
    if getattr(args, "config", None) is not None:
        base = RunConfig.from_dict(read_json(args.config, ConfigError, f"--config {args.config}"))
    settings = given_settings(args)
    if settings.get("stream") is False:  # --no-stream over a streamed run's config: its chunk size lapses too
        settings.setdefault("chunk_rows", None)
    return make_config(base, **settings)


def add_tracking_arguments(parser: argparse.ArgumentParser) -> None:
    """--track and --tracking-uri (train, compare, tune): where a run is logged besides its folder."""
    group = parser.add_argument_group("tracking")
    group.add_argument("--track", action="append", choices=TRACKERS, default=None,
                       help="also log to MLflow (default store ./mlruns) or TensorBoard (event files in the run "
                            "folder's tensorboard/); give it twice for both")
    group.add_argument("--tracking-uri", metavar="URI",
                       help="MLflow store or server, e.g. http://localhost:5000 (default: $MLFLOW_TRACKING_URI, "
                            "else sqlite:///mlruns/mlflow.db)")


def tracking_options(args: argparse.Namespace) -> dict:
    """track= and tracking_uri= for the library, from --track and --tracking-uri."""
    return {"track": args.track, "tracking_uri": args.tracking_uri}


def add_config_argument(parser: argparse.ArgumentParser, what: str = "a config.json to start from (e.g. an "
                                                                    "earlier run's)") -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help=what)


@contextmanager
def imports_kept(args: argparse.Namespace):
    """Around a command's heavy imports (torch, pandas, matplotlib): no collection while they load, and,
    when the command is its process's whole life (`args.whole_process`: the console script, `python -m`),
    what they built frozen afterwards (gc.freeze).

    They leave ~250,000 objects that live until exit and hold no garbage; each full collection walked
    all of them (70-120 ms each, four in a `train`, one more at interpreter exit) and freed a few dozen
    objects. Frozen, the collector walks only what the command builds after them. Not for a caller's
    `cli.main([...])` (a notebook, the tests): their own garbage cycles must not be frozen with them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if getattr(args, "whole_process", False):
            gc.freeze()
        if enabled:
            gc.enable()
