"""A mapping from a YAML file or from command-line options, refused clearly when wrong."""

from pathlib import Path

from pydantic import ValidationError

from tuskflow.config.errors import ConfigError
from tuskflow.workers.mapping import MappingSpec


def mapping_from_options(
    path: Path | None, stream: str, stream_prefix: str, event_type: str, event_id: str
) -> MappingSpec:
    """The mapping file when given, else the options."""
    if path is not None:
        return MappingSpec.from_yaml(path)
    try:
        return MappingSpec(
            stream=stream, stream_prefix=stream_prefix, event_type=event_type, event_id=event_id
        )
    except ValidationError as exc:
        flags = {"stream": "--stream-id", "event_type": "--type", "event_id": "--id-from"}
        problems = "; ".join(
            f"{flags.get(str(e['loc'][0]), str(e['loc'][0]))}={e['input']!r}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid mapping: {problems}") from None
