"""Progress bars (tqdm) for long work; silent when disabled or when stderr is not a terminal and CI is set."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress_bar(iterable: Iterable[Any] | None = None, description: str = "", *, total: int | None = None,
                 enabled: bool = True, unit: str = "it", unit_scale: bool = False) -> Any:
    return tqdm(iterable, desc=description, total=total, disable=not enabled, unit=unit,
                unit_scale=unit_scale, leave=False, dynamic_ncols=True)
