"""`python -m core.knowledge`: the knowledge CLI (core.knowledge.cli); no logic here."""

from __future__ import annotations

import sys

from core.knowledge.cli import main

if __name__ == "__main__":
    sys.exit(main())
