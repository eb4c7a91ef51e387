"""`python -m bench`: run every benchmark and print its table."""

import sys

from bench import operator_latency, schedule_accuracy
from bench.sdk_overhead import main

status = main()
status = max(status, operator_latency.main([]))
status = max(status, schedule_accuracy.main([]))
sys.exit(status)
