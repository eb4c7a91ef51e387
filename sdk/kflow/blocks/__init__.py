"""Prefect's `prefect.blocks` (Block, Secret, ...): kflow has no blocks.

Every name here raises NotSupportedError naming what to use instead (docs/porting.md).
"""

from typing import TYPE_CHECKING

from kflow.unsupported import module_getattr

if not TYPE_CHECKING:
    __getattr__ = module_getattr(__name__)
