"""dstream.hcl: parsing, evaluation and the typed task model."""

from dstream.config.model import (
    Location,
    MetricsSpec,
    Project,
    ProviderSpec,
    RestartPolicy,
    StateSpec,
    TaskSpec,
)

__all__ = [
    "Location",
    "MetricsSpec",
    "Project",
    "ProviderSpec",
    "RestartPolicy",
    "StateSpec",
    "TaskSpec",
]
