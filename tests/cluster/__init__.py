"""A single-node Kubernetes cluster built on this host from parts, for kflow's tests.

Command line: `python -m tests.cluster up|down|status|load-image|kind-load` (see
docs/local-cluster.md); pytest fixtures in tests/conftest.py.
"""
