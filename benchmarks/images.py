"""Digits as an image folder: test accuracy and CPU seconds of the defaults and of one-setting variants.

    torchclassify datasets --export digits-images /tmp/digits
    PYTHONPATH=src python benchmarks/images.py /tmp/digits "" "augment=crop" "image_size=16" "conv=none"

Each argument after the folder is one variant, settings as `name=value;name=value` (command-line text);
"" is the defaults. They run one after another in this process (the first also pays for warm-up).
Figures: docs/images.md.
"""

from __future__ import annotations

import sys
import time

from torchclassify.config import make_config, parse_setting
from torchclassify.data.prepare import prepare
from torchclassify.workflow.training import train_prepared


def main(folder: str, variants: list[str]) -> None:
    for variant in variants or [""]:
        pairs = [part.split("=", 1) for part in variant.split(";") if part]
        config = make_config(source=folder, **{name: parse_setting(name, value) for name, value in pairs})
        wall, cpu = time.perf_counter(), time.process_time()
        run = train_prepared(config, prepare(config))
        print(f"{variant or 'defaults':24s} test accuracy {run.metrics['test']['accuracy']:.4f}  "
              f"epochs {run.summary['epochs_run']}  wall {time.perf_counter() - wall:.1f} s  "
              f"cpu {time.process_time() - cpu:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
