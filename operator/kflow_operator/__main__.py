"""`python -m kflow_operator`: the operator, as `kflow worker start` runs it."""

from __future__ import annotations

import sys

from kflow_operator.main import main

sys.exit(main())
