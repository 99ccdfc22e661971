"""Parameter metadata for step configuration dataclasses.

Each step's parameters are a frozen dataclass whose fields are declared with
:func:`param`. The metadata (label, help, unit, range, choices) is what the GUI
uses to build the step's form, so adding a parameter is one line in core.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["ParamInfo", "param", "param_infos", "params_to_dict", "params_from_dict"]


@dataclass(frozen=True)
class ParamInfo:
    """What the GUI needs to show one parameter."""

    name: str
    label: str
    help: str
    unit: str
    minimum: float | None
    maximum: float | None
    choices: tuple[Any, ...] | None
    default: Any
    type: Any
    zero: str = ""


def param(
    default: Any,
    *,
    label: str,
    help: str = "",
    unit: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[Any, ...] | None = None,
    zero: str = "",
) -> Any:
    """Declare a dataclass field with GUI metadata.

    Parameters
    ----------
    default : object
        Default value (immutable; tuples rather than lists).
    label : str
        Short label shown next to the widget.
    help : str
        One or two sentences shown as a tooltip.
    unit : str
        Unit shown after the value ("px", "sigma", "s", "arcsec").
    minimum, maximum : float, optional
        Allowed numeric range.
    choices : tuple, optional
        Allowed values for a choice parameter.
    zero : str, optional
        What 0 means when it is not a number but a choice ("auto", "from the
        header"): the form shows these words instead of "0.00".
    """
    meta = {
        "label": label,
        "help": help,
        "unit": unit,
        "minimum": minimum,
        "maximum": maximum,
        "choices": tuple(choices) if choices is not None else None,
        "zero": zero,
    }
    return dataclasses.field(default=default, metadata=meta)


def param_infos(params_type: type) -> list[ParamInfo]:
    """The :class:`ParamInfo` of every field of a parameter dataclass."""
    infos = []
    hints = {f.name: f.type for f in dataclasses.fields(params_type)}
    for f in dataclasses.fields(params_type):
        m = f.metadata
        infos.append(
            ParamInfo(
                name=f.name,
                label=m.get("label", f.name.replace("_", " ")),
                help=m.get("help", ""),
                unit=m.get("unit", ""),
                minimum=m.get("minimum"),
                maximum=m.get("maximum"),
                choices=m.get("choices"),
                default=f.default,
                type=hints[f.name],
                zero=m.get("zero", ""),
            )
        )
    return infos


def params_to_dict(params: Any) -> dict[str, Any]:
    """Plain JSON-able dict of a parameter dataclass instance."""
    out = {}
    for f in dataclasses.fields(params):
        v = getattr(params, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def params_from_dict(params_type: type, values: dict[str, Any]) -> Any:
    """Build a parameter dataclass from a dict, ignoring unknown keys.

    Unknown keys are dropped so that a project saved by a newer version with
    extra parameters still opens; missing keys take their defaults.
    """
    names = {f.name: f for f in dataclasses.fields(params_type)}
    kwargs = {}
    for k, v in values.items():
        if k not in names:
            continue
        if isinstance(names[k].default, tuple) and isinstance(v, list):
            v = tuple(v)
        kwargs[k] = v
    return params_type(**kwargs)
