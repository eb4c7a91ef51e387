"""Launchers start, watch and stop a run's infrastructure; one per infrastructure type."""
