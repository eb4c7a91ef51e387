"""Kopf handlers. Each module here registers its handlers when imported."""

from __future__ import annotations

import importlib
import pkgutil


def register_all() -> None:
    """Import every handler module, so that each registers its Kopf handlers."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
