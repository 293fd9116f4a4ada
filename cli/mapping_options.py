"""A mapping from a YAML file or from command-line options, refused clearly when wrong."""

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from tuskflow.config.errors import ConfigError
from tuskflow.workers.mapping import MappingSpec

MappingFile = Annotated[Path | None, typer.Option(help="mapping YAML file (else the options)")]
StreamIdOption = Annotated[
    str, typer.Option("--stream-id", help="stream id from: key, header:<name> or field:<path>")
]
PayloadOption = Annotated[
    str,
    typer.Option(
        "--payload", help="the JSON payload in entry field: field:<name>, or the entry: entry"
    ),
]
PrefixOption = Annotated[str, typer.Option(help="prefix for every stream id")]
TypeOption = Annotated[
    str,
    typer.Option(
        "--type", help="event type from header:, field: or fixed: (absent: the topic or stream)"
    ),
]
IdOption = Annotated[str, typer.Option("--id-from", help="event id from source, header: or field:")]
# The defaults are the mapping's own, never restated in a command.
MAPPING_DEFAULTS = {name: field.default for name, field in MappingSpec.model_fields.items()}
# The command-line flag of each mapping key that has one.
FLAGS = {
    "redis_payload": "--payload",
    "stream": "--stream-id",
    "stream_prefix": "--stream-prefix",
    "event_type": "--type",
    "event_id": "--id-from",
}


def mapping_from_options(path: Path | None, **options: str) -> MappingSpec:
    """The mapping file when given, else the options (MappingSpec's keys, given as flags)."""
    if path is not None:
        return MappingSpec.from_yaml(path)
    try:
        return MappingSpec.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{FLAGS.get(str(e['loc'][0]), str(e['loc'][0]))}={e['input']!r}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid mapping: {problems}") from None
