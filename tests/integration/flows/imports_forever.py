"""An entrypoint module whose import never ends: the flow never starts, never reports."""

while True:
    pass
