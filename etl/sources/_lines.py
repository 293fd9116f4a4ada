"""The record lines of a CSV buffer, found once with numpy, for the salvage to name rows by."""

from collections.abc import Sequence
from typing import overload

import numpy as np
import numpy.typing as npt

_LF = 0x0A
_CR = 0x0D


class CsvLines(Sequence[bytes]):
    """The lines of a buffer that pyarrow reads a record from (all but the empty ones)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._spans: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None

    def _found(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        if self._spans is None:
            raw = np.frombuffer(self._data or b"\n", np.uint8)
            breaks = np.flatnonzero(raw == _LF)
            starts = np.concatenate(([0], breaks + 1))
            ends = np.concatenate((breaks, [len(raw)]))
            ends -= (ends > starts) & (raw[np.minimum(ends, len(raw)) - 1] == _CR)
            kept = ends > starts
            self._spans = (starts[kept], ends[kept])
        return self._spans

    def __len__(self) -> int:
        return len(self._found()[0])

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        starts, ends = self._found()
        if isinstance(index, slice):
            return [self._data[a:b] for a, b in zip(starts[index], ends[index], strict=True)]
        return self._data[starts[index] : ends[index]]
