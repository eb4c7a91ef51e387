"""Kubernetes API plumbing that no single part of the operator owns: the informers, the
handlers and the launchers all use it, so it lives apart from each of them."""
