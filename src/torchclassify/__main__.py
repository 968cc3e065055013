"""`python -m torchclassify ...` (also what torchrun launches) runs the command line."""

import sys

from .cli import run

sys.exit(run())
