"""Failure notifications (docs/notifications.md): who is told of which state transition of a
run, what they are sent, and the record of each delivery in the run's status.

- targets.py: a run's targets, from its Deployment or else its work pool (pure);
- planning.py: which deliveries are due, the record an attempt leaves, backoff (pure);
- payloads.py: the generic JSON document, the Slack message, the mail (pure);
- redaction.py: secrets and URLs out of error texts (pure);
- webhook.py, mail.py: the two senders (blocking; called from worker threads);
- sending.py: one delivery: its Secret read, its payload built and sent, its error redacted.
"""
