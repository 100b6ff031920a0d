"""The base of the binding's C enums: a member may be given as itself, its
integer value or its case-insensitive name, and a wrong one is refused with
the names that would have been accepted.

Every enum the binding mirrors (Activation, Init, Placement, Head, Optimizer,
Param, Tensor) derives from :class:`Choice`, so this is the only place that
turns user input into an enum member.
"""

from __future__ import annotations

import enum
from typing import Optional, Type, TypeVar, Union

_C = TypeVar("_C", bound="Choice")


class Choice(enum.IntEnum):
    """An IntEnum that also accepts its members' names (subclassed, never used alone)."""

    @classmethod
    def of(cls: Type[_C], value: Union[_C, int, str], what: Optional[str] = None) -> _C:
        """The member ``value`` names: a member, its value, or its name in any case.

        Args:
            value: what the caller gave.
            what: how an error message calls the enum (default: the class
                name in lower case, e.g. "activation").

        Raises:
            ValueError: ``value`` names no member; the message lists the names.
        """
        what = what or cls.__name__.lower()
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                names = ", ".join(m.name.lower() for m in cls)
                raise ValueError(f"unknown {what} {value!r} (known: {names})") from None
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown {what} {value!r}") from None
