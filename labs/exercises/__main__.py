"""``python -m labs.exercises ...``: the same as ``python -m labs check ...``."""

import sys

from .check import main

sys.exit(main(sys.argv[1:]))
