"""Prometheus metrics of the operator, on their own registry and served by `server.py`.

Decisions never import this package; the thin layers (the supervisor, the API layer, the
watches) record what they wrote or first saw, so each transition is counted once:

- instruments.py: every counter, histogram and gauge, with its buckets and labels;
- run_facts.py: the labels and durations read from a FlowRun body (pure);
- run_records.py: what the supervisor calls after a successful write or a first sighting;
- run_gauges.py: current runs, computed at scrape time from the operator's index;
- api_requests.py: every Kubernetes API request the operator makes, timed;
- thread_pools.py: the worker pools' queue depth and busy workers;
- replica.py: whether this replica is the active one, and build info;
- server.py: the `--metrics-address` endpoint.
"""
