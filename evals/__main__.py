"""`python -m evals`: see `evals.cli`."""

from __future__ import annotations

from evals.cli import main

raise SystemExit(main())
