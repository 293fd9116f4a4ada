"""Errors of the ETL core, under the project's one root."""

from dataclasses import dataclass

from tuskflow.config.errors import PermanentError, RetryableError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a job spec, at a dotted path into it (``transforms[2].expr``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(PermanentError):
    """A job spec that cannot run; the message lists every problem, one per line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)

    @classmethod
    def of(cls, problems: list[Problem]) -> "SpecError":
        """The error for a list of problems, each named by its path."""
        lines = "\n".join(f"  - {problem}" for problem in problems)
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        return cls(f"the job spec is invalid ({count}):\n{lines}")


class ExpressionError(PermanentError):
    """An expression that does not parse, names an unknown column or mixes types."""


class JobFailedError(PermanentError):
    """A job that ran but may not publish: too many rejects, or a failed check on the whole."""


class JobCancelledError(PermanentError):
    """A job that was cancelled while it ran; nothing of it was published."""


class SinkError(RetryableError):
    """The output could not be written or published; nothing partial was left visible."""


class SinkConflictError(PermanentError):
    """The sink's target cannot take the output as the spec says; a retry would meet it again."""


class SourceError(PermanentError):
    """The source's files cannot be found or read as the spec says."""
