"""Argument checks shared by every module: one argument order, one exception, one message shape.

Every checker takes ``(name, value, ...)``, returns the normalised value and, for a bad one, raises
:class:`ArgumentError` with the message ``"<name> must be <what is allowed>, got <value!r>"``. The caller
passes the name the *user* typed (a constructor argument, a config path, a command-line flag), so the
message points at what to change.

:class:`ArgumentError` subclasses both ``ValueError`` and ``TypeError``: a wrong type and a wrong value are
one kind of mistake here (a bad argument), and code that catches either keeps working. The command line
prints it as one line without a traceback.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ArgumentError",
    "check_bool",
    "check_choice",
    "check_exclusive",
    "check_fraction",
    "check_int",
    "check_number",
]


class ArgumentError(ValueError, TypeError):
    """A bad argument: the message names it, the value given and what is allowed."""


def _fail(name: str, allowed: str, value: Any) -> ArgumentError:
    return ArgumentError(f"{name} must be {allowed}, got {value!r}")


def check_int(name: str, value: Any, minimum: int | None = 1, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]`` (either end may be None: unbounded).

    bool is refused (``True`` workers is a mistake, not 1); numpy integers are accepted.
    """
    if minimum is not None and maximum is not None:
        allowed = f"an int in [{minimum}, {maximum}]"
    elif minimum is not None:
        allowed = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    elif maximum is not None:
        allowed = f"an int <= {maximum}"
    else:
        allowed = "an int"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(name, allowed, value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _fail(name, allowed, value)
    return int(value)


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float within the bounds (``low_open``: ``> low`` instead of ``>= low``)."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    allowed = "a finite number" + (f" {' and '.join(parts)}" if parts else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _fail(name, allowed, value)
    if low is not None and (value <= low if low_open else value < low):
        raise _fail(name, allowed, value)
    if high is not None and (value >= high if high_open else value > high):
        raise _fail(name, allowed, value)
    return float(value)


def check_fraction(name: str, value: Any, *, low_open: bool = True, high_open: bool = True) -> float:
    """``value`` as a float in ``(0, 1)``; ``low_open=False`` admits 0, ``high_open=False`` admits 1."""
    interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _fail(name, f"a number in {interval}", value)
    inside = (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not inside:
        raise _fail(name, f"a number in {interval}", value)
    return float(value)


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed`` (strings)."""
    if not isinstance(value, str) or value not in allowed:
        raise _fail(name, f"one of {list(allowed)}", value)
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise _fail(name, "true or false", value)
    return value


def check_exclusive(**given: Any) -> None:
    """Refuse more than one of the keyword arguments being set (not None)."""
    named = [name for name, value in given.items() if value is not None]
    if len(named) > 1:
        raise ArgumentError(f"give at most one of {list(given)}, got {', '.join(named)}")
