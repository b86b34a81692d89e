"""``python -m rmapkit``: the command line (see rmapkit.cli)."""

import sys

from rmapkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
