"""What a shorter early-stopping patience would have done, read from a quality.py run's histories.

    python benchmarks/patience.py results.json [--patience 20,25]

Every fit of the torch column that early-stopped recorded each epoch's validation loss and seconds
(`quality.py`'s training_record). The library's EarlyStopping with patience p is replayed on that history.
Where the best epoch it keeps is the one the run kept, the fit is the same network (the epochs before the stop
ran exactly as they did: the default schedule is a constant rate, which the stop does not touch) and the saving
is the seconds of the epochs it would not have run. Where it keeps an earlier epoch, the fit would differ and
only a run can tell by how much: those folds are listed. Patience longer than the run's own cannot be replayed
(the history ends at its stop).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from torchclassify.engine.callbacks import EarlyStopping, TrainState


def replay(valid_loss: list[float], patience: int) -> tuple[int, int]:
    """(best epoch kept, last epoch run), 1-based: the library's EarlyStopping(patience) fed a run's history of
    validation losses, one epoch at a time, as the training loop feeds it."""
    stopper = EarlyStopping(patience=patience)
    state = TrainState(model=torch.nn.Identity(), optimizer=None, n_epochs=len(valid_loss), main_metric="accuracy")
    for epoch, loss in enumerate(valid_loss, start=1):
        state.epoch = epoch
        state.history.append({"valid_loss": loss})
        stopper.on_epoch_end(state)
        if state.should_stop:
            break
    return state.best_epoch or 0, state.epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a quality.py JSON report with the torch column's histories")
    parser.add_argument("--patience", default="20,25", help="patiences to replay, comma-separated")
    args = parser.parse_args()
    report = json.loads(Path(args.results).read_text())
    patiences = [int(p) for p in args.patience.split(",")]
    totals = {p: [0.0, 0] for p in patiences}  # seconds saved, folds changed
    fit_s = 0.0
    for result in report["results"]:
        if result["model"] != "torch" or "folds" not in result:
            continue
        fit_s += result["fit_s"]
        for index, fold in enumerate(result["folds"]):
            if "valid_loss" not in fold:
                continue
            line = f"{result['table']:>14} fold {index}: {fold['epochs']} epochs, best {fold['best_epoch']}"
            for p in patiences:
                kept, last = replay(fold["valid_loss"], p)
                saved = sum(fold["epoch_s"][last:])
                if kept == fold["best_epoch"]:
                    totals[p][0] += saved
                    line += f" | p{p}: stops at {last}, same fit, -{saved:.1f} s"
                else:
                    totals[p][1] += 1
                    line += f" | p{p}: keeps epoch {kept} instead (stops at {last}): CHANGED"
            print(line)
    for p, (saved, changed) in totals.items():
        print(f"patience {p}: {saved:.0f} s saved on unchanged folds of {fit_s:.0f} s; {changed} fold(s) changed")


if __name__ == "__main__":
    main()
