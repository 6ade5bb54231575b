"""RQ worker entry point: python worker.py [queue ...]"""

from __future__ import annotations

import sys

from callcenter.cli import main

if __name__ == "__main__":
    main(["worker", *sys.argv[1:]])
