"""Entry point for `python -m dagtools`."""

import sys

from dagtools.cli import main

sys.exit(main())
