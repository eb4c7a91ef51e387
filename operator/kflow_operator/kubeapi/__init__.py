"""The operator's one door to the Kubernetes API: every client, every call, and what a 404 or a
409 means. Nothing else in the operator imports the `kubernetes` package.

- clients.py: one API client per thread;
- errors.py: the rules for absent objects and refusals, and the server's own words for them;
- kflow_objects.py: FlowRuns and Deployments (reads, writes at a resourceVersion);
- peering.py: Kopf's peering objects;
- jobs.py, accounts.py: the Jobs, pods, ServiceAccounts, Roles and tokens launchers use;
- list_watch.py: a complete, current picture of a set of objects;
- cluster_identity.py: which cluster this is, whatever address it is reached at.

Conventions, the same in every module: a read of an object that is not there returns None; a
write made at a resourceVersion returns None when the object is gone or has changed since it
was read (the caller re-reads and decides again); a create whose name is taken returns None (or
the existing object, where the caller needs it).
"""

from typing import Any

Body = dict[str, Any]
"""A Kubernetes object as the API server sends it (parsed JSON). The operator's one name for
it; importing it costs nothing (this package's root imports no `kubernetes`)."""
