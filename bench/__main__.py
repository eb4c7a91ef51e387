"""`python -m bench`: run every benchmark and print its table."""

import sys

from bench import metrics_scrape, operator_latency, scale, schedule_accuracy
from bench.sdk_overhead import main

status = main()
status = max(status, operator_latency.main([]))
status = max(status, schedule_accuracy.main([]))
status = max(status, metrics_scrape.main([]))
status = max(status, scale.main([]))
sys.exit(status)
