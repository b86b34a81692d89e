"""``python -m rmapkit``: the command line (see rmapkit.cli)."""

import sys

from rmapkit.cli import main

sys.exit(main())
