"""Entry point for ``python -m labs``."""

import sys

from .cli import main

sys.exit(main())
