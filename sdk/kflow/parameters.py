"""From call arguments to one parameters dict, and its validation with pydantic.

Binding is on the hot path of every task call, so plain signatures (no positional-only
parameters, no *args/**kwargs) take a dict-building fast path instead of `Signature.bind`.
Validation imports pydantic only when some value does not already have its annotated type.
"""

from __future__ import annotations

import typing
from typing import Any

from kflow.exceptions import ParameterTypeError

_MISSING: Any = object()
_PLAIN_CONTAINERS = (list, tuple, set, frozenset, dict)


class CallSignature:
    """Binds calls of one function to a parameters dict and calls it back with such a dict."""

    def __init__(self, fn: Any) -> None:
        import inspect

        self.fn_name = getattr(fn, "__name__", repr(fn))
        self.signature = inspect.signature(fn)
        params = list(self.signature.parameters.values())
        kinds = inspect.Parameter
        self.simple = all(
            p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY) for p in params
        )
        self.names = tuple(p.name for p in params)
        self.positional = tuple(p.name for p in params if p.kind is kinds.POSITIONAL_OR_KEYWORD)
        self.defaults = {
            p.name: p.default for p in params if p.default is not inspect.Parameter.empty
        }
        self.kinds = {p.name: p.kind for p in params}
        #: How many arguments a call that passes every parameter by position has (-1: there
        #: are keyword-only parameters): the common call, bound without checks.
        self.positional_arity = len(self.names) if self.positional == self.names else -1

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The parameters dict (defaults applied); TypeError as Python would raise it."""
        if not self.simple:
            try:
                bound = self.signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise ParameterTypeError(self._bind_error(str(exc))) from None
            bound.apply_defaults()
            return dict(bound.arguments)
        if not kwargs and len(args) == self.positional_arity:
            return dict(zip(self.positional, args, strict=False))
        if len(args) > len(self.positional):
            raise ParameterTypeError(
                self._bind_error(
                    f"takes {len(self.positional)} positional arguments but {len(args)} were given"
                )
            )
        params = dict(zip(self.positional, args, strict=False))
        for key, value in kwargs.items():
            if key in params:
                raise ParameterTypeError(self._bind_error(f"multiple values for argument {key!r}"))
            if key not in self.kinds:
                raise ParameterTypeError(self._bind_error(f"unexpected keyword argument {key!r}"))
            params[key] = value
        if len(params) != len(self.names):
            for name in self.names:
                if name not in params:
                    default = self.defaults.get(name, _MISSING)
                    if default is _MISSING:
                        raise ParameterTypeError(
                            self._bind_error(f"missing a required argument: {name!r}")
                        )
                    params[name] = default
        return params

    def _bind_error(self, problem: str) -> str:
        return (
            f"Error binding parameters for function {self.fn_name!r}: {problem}. "
            f"Its signature is {self.fn_name}{self.signature}."
        )

    def call(self, fn: Any, params: dict[str, Any]) -> Any:
        if self.simple:
            return fn(**params)
        import inspect

        kinds = inspect.Parameter
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for name, value in params.items():
            kind = self.kinds[name]
            if kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD):
                args.append(value)
            elif kind is kinds.VAR_POSITIONAL:
                args.extend(value)
            elif kind is kinds.KEYWORD_ONLY:
                kwargs[name] = value
            else:
                kwargs.update(value)
        return fn(*args, **kwargs)


class ParameterValidator:
    """Validates and coerces a flow's parameters against its type hints (pydantic, lazily)."""

    def __init__(self, fn: Any, call_signature: CallSignature) -> None:
        self.fn = fn
        self.call_signature = call_signature
        try:
            self.hints = typing.get_type_hints(fn)
        except Exception:
            # An annotation that cannot be resolved (a class defined inside a function under
            # `from __future__ import annotations`) is not checked rather than breaking the run.
            self.hints = {
                name: hint
                for name, hint in getattr(fn, "__annotations__", {}).items()
                if not isinstance(hint, str)
            }
        self.hints.pop("return", None)
        self._model: Any = None

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Coerced parameters; ParameterTypeError naming each bad parameter and the problem."""
        if all(self._already_valid(name, value) for name, value in params.items()):
            return params
        model = self._pydantic_model()
        from pydantic import ValidationError

        try:
            validated = model.model_validate(params)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"])
                problems.append(f" - {where}: {error['msg']} (got {error['input']!r})")
            raise ParameterTypeError(
                "Flow run received invalid parameters:\n" + "\n".join(problems)
            ) from None
        names = self.call_signature.names
        return {name: getattr(validated, f"p{names.index(name)}") for name in params}

    def _already_valid(self, name: str, value: Any) -> bool:
        hint = self.hints.get(name, _MISSING)
        if hint is _MISSING or hint is Any:
            return True
        if value is None and self.call_signature.defaults.get(name, _MISSING) is None:
            return True
        kind = self.call_signature.kinds.get(name)
        if kind is not None and kind.name in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            return False
        return _is_instance(value, hint)

    def _pydantic_model(self) -> Any:
        if self._model is None:
            import inspect

            from pydantic import ConfigDict, Field, create_model

            fields: dict[str, Any] = {}
            for index, name in enumerate(self.call_signature.names):
                hint = self.hints.get(name, Any)
                kind = self.call_signature.kinds[name]
                if kind is inspect.Parameter.VAR_POSITIONAL:
                    hint = tuple[hint, ...]  # type: ignore[valid-type]
                elif kind is inspect.Parameter.VAR_KEYWORD:
                    hint = dict[str, hint]  # type: ignore[valid-type]
                default = self.call_signature.defaults.get(name, ...)
                fields[f"p{index}"] = (hint, Field(default, alias=name))
            self._model = create_model(
                f"{self.call_signature.fn_name}_parameters",
                __config__=ConfigDict(arbitrary_types_allowed=True),
                **fields,
            )
        return self._model


def _is_instance(value: Any, hint: Any) -> bool:
    """True when `value` certainly needs no coercion for `hint` (False means: ask pydantic)."""
    if isinstance(hint, type):
        if hint is int or hint is float:
            return type(value) is hint
        if hint in _PLAIN_CONTAINERS or hint in (str, bytes, bool):
            return type(value) is hint
        if hint.__module__ == "builtins":
            return isinstance(value, hint)
        return False
    origin = getattr(hint, "__origin__", None)
    args: tuple[Any, ...] = getattr(hint, "__args__", ())
    if origin in (list, set, frozenset) and type(value) is origin and len(args) == 1:
        return all(_is_instance(item, args[0]) for item in value)
    if origin is dict and type(value) is dict and len(args) == 2:
        return all(_is_instance(k, args[0]) and _is_instance(v, args[1]) for k, v in value.items())
    return False
