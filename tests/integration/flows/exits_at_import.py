"""An entrypoint module that ends its process while being imported, before any report."""

import os

os._exit(0)
