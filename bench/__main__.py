"""`python -m bench`: run every benchmark and print its table."""

import sys

from bench.sdk_overhead import main

sys.exit(main())
