"""Name -> constructor registries for encoders, decoders and heads."""
from __future__ import annotations

import inspect
import os
from typing import Any, Callable, Optional

from torch import nn


class Registry:
    """A named collection of network constructors.

    Networks made by :meth:`create` remember how they were made in ``net.spec``, so a checkpoint
    can rebuild them from plain data (no pickled classes).

    >>> encoders = Registry("encoder")
    >>> @encoders.register("tiny")
    ... def tiny(in_dim: int = 4): return nn.Linear(in_dim, 2)
    >>> encoders.create("tiny").spec
    {'name': 'tiny', 'in_dim': 4}
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._builders: dict[str, Callable[..., nn.Module]] = {}

    def register(self, name: str) -> Callable:
        def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._builders[name] = builder
            return builder

        return add

    def arguments(self, name: str) -> Optional[set[str]]:
        """The keyword arguments the constructor registered as ``name`` takes (None: any)."""
        params = inspect.signature(self._builder(name)).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params}

    def check_kwargs(self, name: str, kwargs: dict[str, Any], option: str,
                     fixed: tuple[str, ...] = ()) -> None:
        """Raise a ValueError naming ``option`` if ``kwargs`` holds an argument that the
        constructor ``name`` does not take (``fixed``: those the package passes itself)."""
        takes = self.arguments(name)
        own = sorted(set(kwargs) & set(fixed))
        if own:
            raise ValueError(f"{option}: {', '.join(own)} is set by the package from the other "
                             "settings and the data (e.g. model.code_dim, model.code); leave it out")
        unknown = sorted(set(kwargs) - takes) if takes is not None else []
        if unknown:
            settable = ", ".join(sorted(takes - set(fixed))) or "nothing"
            raise ValueError(f"{option}: {self.kind} {name!r} takes no {', '.join(unknown)} "
                             f"(it takes {settable})")
        params = inspect.signature(self._builder(name)).parameters
        for key, value in kwargs.items():
            wanted = unfit(value, str(params[key].annotation) if key in params else "")
            if wanted:
                raise ValueError(f"{option}.{key} must be {wanted}, got {value!r}")

    def _builder(self, name: str) -> Callable[..., nn.Module]:
        if name not in self._builders:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return self._builders[name]

    def names(self) -> list[str]:
        return sorted(self._builders)

    def completed(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A recorded ``spec`` with the defaults its constructor has now where it leaves them out
        (checkpoints written before specs recorded defaults)."""
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        return {"name": spec["name"], **recorded(self._builder(spec["name"]), kwargs)}

    def create(self, name: str, **kwargs: Any) -> nn.Module:
        builder = self._builder(name)
        net = builder(**kwargs)
        net.spec = {"name": name, **recorded(builder, kwargs)}
        return net


def recorded(builder: Callable, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments a net was built with as plain data: its defaults included (a checkpoint
    then rebuilds it the same, whatever a later version defaults to), paths as strings."""
    params = inspect.signature(builder).parameters.values()
    defaults = {p.name: p.default for p in params if p.default is not p.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: os.fspath(v) if isinstance(v, os.PathLike) else v
            for k, v in {**defaults, **kwargs}.items()}


TYPE_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false",
              "str": "a name", "tuple[int, ...]": "a list of positive whole numbers",
              "int | bool": "a whole number or true/false"}


def unfit(value: Any, annotation: str) -> Optional[str]:
    """What a setting from a config should be if it does not fit a constructor's annotation
    (one of :data:`TYPE_WORDS`, maybe ``Optional``; other annotations are not checked), else
    None."""
    optional = annotation.startswith("Optional[")
    base = annotation[len("Optional["):-1] if optional else annotation
    if base not in TYPE_WORDS or (value is None and optional):
        return None

    def whole(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    fits = {"int": whole(value),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "int | bool": isinstance(value, int),
            "str": isinstance(value, str),
            "tuple[int, ...]": isinstance(value, (list, tuple))
            and all(whole(v) and v > 0 for v in value)}[base]
    return None if fits else TYPE_WORDS[base]
