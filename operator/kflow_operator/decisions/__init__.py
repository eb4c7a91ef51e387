"""Pure decisions of the operator: no kopf, no kubernetes client, only data in and out."""
