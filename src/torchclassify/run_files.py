"""Reading the plain files of a run folder (config.json, metrics.json, history.csv) with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ModelFileError


def read_run_config(run_dir) -> dict:
    """config.json of a run as a dict ({} when the folder holds only a model)."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFileError(f"{path} is not valid JSON: the run folder is corrupted") from None
    if not isinstance(raw, dict):
        raise ModelFileError(f"{path} must hold a JSON object")
    return raw
