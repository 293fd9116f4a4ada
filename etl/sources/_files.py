"""Finding a source's files and reading their bytes: whole, a line-aligned range, or a head."""

import codecs
import glob
import os
from collections.abc import Sequence
from typing import BinaryIO, cast

from tuskflow.etl.errors import SourceError
from tuskflow.etl.spec import SourceSpec

EXTENSIONS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".tsv", ".txt"),
    "json": (".json",),
    "ndjson": (".ndjson", ".jsonl", ".json"),
    "parquet": (".parquet", ".pq"),
    "excel": (".xlsx", ".xlsm"),
    "avro": (".avro",),
}
TEXT_FORMATS = frozenset({"csv", "json", "ndjson"})
_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}
_GLOB_MAGIC = frozenset("*?[")
_CHUNK = 1 << 16
_BOM = codecs.BOM_UTF8


def list_files(source: SourceSpec) -> list[str]:
    """The source's files, sorted: the file itself, a folder's files of the format, or a glob's."""
    path = source.path
    if _GLOB_MAGIC & set(path):
        found = sorted(match for match in glob.glob(path) if os.path.isfile(match))
    elif os.path.isdir(path):
        found = sorted(
            entry.path
            for entry in os.scandir(path)
            if entry.is_file() and _of_format(entry.name, source.format)
        )
    elif os.path.isfile(path):
        found = [path]
    else:
        raise SourceError(f"the {source.format} source {path!r} does not exist")
    if not found:
        raise SourceError(f"no {source.format} files match the source path {path!r}")
    return found


def _of_format(name: str, format_: str) -> bool:
    if name.startswith("."):
        return False
    stem, suffix = os.path.splitext(name.lower())
    if format_ in TEXT_FORMATS and suffix in _SUFFIXES:
        suffix = os.path.splitext(stem)[1]
    return suffix in EXTENSIONS[format_]


def compression_of(source: SourceSpec, path: str) -> str | None:
    """The codec a text file is compressed with, or None."""
    option = source.options.compression
    if source.format not in TEXT_FORMATS or option == "none":
        return None
    if option != "infer":
        return option
    return _SUFFIXES.get(os.path.splitext(path.lower())[1])


def is_utf8(encoding: str) -> bool:
    """Whether text in this encoding is already UTF-8 (no transcoding needed)."""
    return _codec(encoding).name == "utf-8"


def splits_at_newlines(encoding: str) -> bool:
    """Whether a byte 0x0A is always a line break in this encoding (so ranges can be cut there)."""
    _codec(encoding)
    return "\n".encode(encoding) == b"\n" and "\r\n".encode(encoding) == b"\r\n"


def to_utf8(data: bytes, encoding: str) -> bytes:
    """The text in UTF-8; undecodable bytes stay as they are, so the rows holding them reject."""
    if is_utf8(encoding):
        return data
    return data.decode(encoding, "surrogateescape").encode("utf-8", "surrogateescape")


def _codec(encoding: str) -> codecs.CodecInfo:
    try:
        return codecs.lookup(encoding)
    except LookupError:
        raise SourceError(f"unknown text encoding {encoding!r}") from None


def open_stream(path: str, compression: str | None) -> BinaryIO:
    """The file's bytes as a stream, decompressed."""
    if compression is None:
        return open(path, "rb")
    import pyarrow as pa  # noqa: PLC0415  only compressed files need it; checking a spec does not

    return cast(BinaryIO, pa.input_stream(path, compression=compression))


def read_whole(path: str, compression: str | None) -> bytes:
    """The whole file, decompressed, without a UTF-8 byte order mark."""
    with open_stream(path, compression) as stream:
        return stream.read().removeprefix(_BOM)


def read_range(path: str, start: int, end: int | None) -> bytes:
    """The lines starting in [start, end): the first line after ``start``'s (unless 0) through
    the line that crosses ``end``."""
    with open(path, "rb") as stream:
        if start > 0:
            stream.seek(start - 1)
            stream.readline()
        begin = stream.tell()
        if end is None:
            data = stream.read()
        elif begin >= end:
            return b""
        else:
            # The crossing line's length first, so that the range is read in one piece: adding
            # it after copied the whole partition once more.
            stream.seek(end - 1)
            last = stream.readline()
            stream.seek(begin)
            data = stream.read(end - 1 - begin + len(last)) if last else stream.read()
    return data.removeprefix(_BOM) if begin == 0 else data


def read_head(path: str, compression: str | None, encoding: str, size: int) -> bytes:
    """About ``size`` bytes of the file's text in UTF-8, cut after the last whole line."""
    with open_stream(path, compression) as stream:
        return _utf8(_decoded(stream, encoding, size, last=True))


def first_line(path: str, compression: str | None, encoding: str) -> bytes:
    """The file's first line in UTF-8, with its line break."""
    with open_stream(path, compression) as stream:
        return _utf8(_decoded(stream, encoding, _CHUNK, last=False))


def _decoded(stream: BinaryIO, encoding: str, size: int, *, last: bool) -> str:
    """Text from the stream's start: all of it up to ``size`` bytes, else through a line break
    (the last one read, or the first)."""
    decoder = codecs.getincrementaldecoder(_codec(encoding).name)("surrogateescape")
    data = stream.read(size)
    text: str = decoder.decode(data, final=len(data) < size)
    if len(data) < size:
        return text
    while True:
        cut = text.rfind("\n") if last else text.find("\n")
        if cut >= 0:
            return text[: cut + 1]
        data = stream.read(_CHUNK)
        text += decoder.decode(data, final=not data)
        if not data:
            return text


def _utf8(text: str) -> bytes:
    return text.removeprefix("\ufeff").encode("utf-8", "surrogateescape")


def split_off_line(data: bytes) -> tuple[bytes, bytes]:
    """The first line of ``data`` and the rest."""
    cut = data.find(b"\n")
    if cut < 0:
        return data, b""
    return data[: cut + 1], data[cut + 1 :]


def line_text(line: bytes) -> str:
    """A record line as a reject shows it."""
    return line.removesuffix(b"\r").decode("utf-8", "replace")


def is_valid_text(data: bytes) -> bool:
    """Whether the bytes are valid UTF-8 (ASCII is tested by words first, 10x faster)."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def undecodable(data: bytes, lines: Sequence[bytes], encoding: str) -> dict[int, str]:
    """The numbers of the record lines that are not valid text, each with its reason."""
    if is_valid_text(data):
        return {}
    reasons: dict[int, str] = {}
    for number, line in enumerate(lines, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            reasons[number] = f"not valid {encoding} text"
    return reasons
