"""Exceptions the lab gives a meaning to.

``PermanentError`` is the lab's "do not redeliver" mark: retrying cannot help
(a poison input, a corrupt PDF), so the job skips its retries and goes straight
to the dead-letter queue, like a parcel with an address that does not exist.
"""

from __future__ import annotations


class LabError(Exception):
    """Base class for errors the lab reports to a person in one clear line."""


class BrokerUnavailable(LabError):
    """The broker (Redis or the embedded one) cannot be reached."""


class UnknownTask(LabError, KeyError):
    """A task name that is not in the catalogue (the allow-list)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown task"


class InvalidParams(LabError, ValueError):
    """Task parameters that are not valid (not JSON, wrong names or types)."""


class PermanentError(Exception):
    """An error that retrying cannot fix: the job goes straight to the dead-letter queue."""


class PoisonInput(PermanentError):
    """Input the task can never process (the seed's risky_task 'poison' data)."""


class JobCancelled(PermanentError):
    """Raised inside a job by ``progress()`` when someone asked to cancel it."""
