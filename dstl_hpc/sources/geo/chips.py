"""Chips: the windows a scene grid is cut into, the DAG's unit for stacks, masks and
prediction, and their ids (``{scene}__{row}_{col}``). No heavy imports: the workflow
computes chips while it builds its DAG."""

from __future__ import annotations

from dstl_hpc.errors import DstlError

CHIP_SEP = "__"


def chip_id(scene: str, row: int, col: int) -> str:
    return f"{scene}{CHIP_SEP}{row:03d}_{col:03d}"


def scene_of(chip: str) -> str:
    return chip.split(CHIP_SEP, 1)[0]


def chip_windows(height: int, width: int, size: int, overlap: int) -> list[tuple[int, ...]]:
    """(row_index, col_index, row_off, col_off, h, w) of the chips covering a grid: stride
    ``size - overlap``, the last row/column aligned to the grid's end (every chip is
    ``size`` when the grid is; a smaller grid is one chip)."""
    if not (isinstance(size, int) and isinstance(overlap, int)):
        raise DstlError(f"chip size {size!r} and overlap {overlap!r} must be whole pixels")
    if size < 1 or not 0 <= overlap < size:
        raise DstlError(f"chip overlap {overlap} must be >= 0 and < the chip size {size}")
    if height < 1 or width < 1:
        raise DstlError(f"an empty grid ({height} x {width}) has no chips")

    def offsets(n: int) -> list[int]:
        if n <= size:
            return [0]
        return list(range(0, n - size, size - overlap)) + [n - size]

    return [
        (r, c, y, x, min(size, height - y), min(size, width - x))
        for r, y in enumerate(offsets(height))
        for c, x in enumerate(offsets(width))
    ]
