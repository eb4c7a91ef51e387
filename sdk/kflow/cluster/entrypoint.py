"""Turning a Deployment's `entrypoint` string into the object it names.

Two forms, as design.md §2 fixes them: `path/to/file.py:function` (relative to the working
directory the infrastructure gives the process) and `package.module:function` (importable from
the process's Python path). A file is imported under a private module name, never `__main__`,
so its `if __name__ == "__main__":` block does not run a second flow.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path


class EntrypointError(ValueError):
    """The entrypoint cannot be loaded; the message says which part is wrong."""


def split_entrypoint(entrypoint: str) -> tuple[str, str]:
    """`("path/to/file.py" or "package.module", "function")`, or a message saying the form."""
    where, sep, attribute = entrypoint.rpartition(":")
    if not sep or not where or not attribute or not attribute.replace(".", "_").isidentifier():
        raise EntrypointError(
            f"entrypoint {entrypoint!r} is not of the form 'path/to/file.py:function' or "
            "'package.module:function'"
        )
    return where, attribute


def load_entrypoint(entrypoint: str, working_directory: Path | None = None) -> object:
    """The object `entrypoint` names; attribute paths such as `module:Class.method` work too."""
    where, attribute = split_entrypoint(entrypoint)
    base = working_directory or Path.cwd()
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _import_file(base / where, entrypoint)
    else:
        if str(base) not in sys.path:
            sys.path.insert(0, str(base))
        try:
            module = importlib.import_module(where)
        except ImportError as error:
            raise EntrypointError(
                f"entrypoint {entrypoint!r}: cannot import module {where!r}: {error}"
            ) from error
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise EntrypointError(
                f"entrypoint {entrypoint!r}: {where!r} has no attribute {attribute!r}"
            ) from None
    return target


def _import_file(path: Path, entrypoint: str) -> object:
    path = path.resolve()
    if not path.is_file():
        raise EntrypointError(
            f"entrypoint {entrypoint!r}: file {path} does not exist (paths are relative to "
            "the working directory of the run's infrastructure)"
        )
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module_name = f"kflow_entrypoint_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise EntrypointError(f"entrypoint {entrypoint!r}: {path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    # Sibling imports (`from helpers import x`) resolve as they do for `python file.py`.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
