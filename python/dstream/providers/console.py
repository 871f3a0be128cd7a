"""dstream-console: an output that shows each envelope on its stdout, which dstream
prints for the user. Formats: `simple` (one human line), `json` (the envelope as one
JSON line), `structured` (indented, several lines per envelope)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dstream.protocol.frames import META_OPERATION, META_TABLE
from dstream.sdk import Envelope, OutputProvider, ProviderConfig, as_text, dump_json, run_provider


@dataclass
class ConsoleConfig(ProviderConfig):
    # `outputFormat` was the original .NET console provider's key.
    format: Literal["simple", "json", "structured"] = field(
        default="simple", metadata={"aliases": ("output_format",)}
    )


def simple_line(envelope: Envelope) -> bytes:
    """`[orders Insert seq 3] {"value":3}`: where it came from, then the data."""
    metadata: dict[str, object] = envelope.metadata if isinstance(envelope.metadata, dict) else {}
    keys = (META_TABLE, META_OPERATION)
    tags = [as_text(metadata[key]) for key in keys if metadata.get(key) is not None]
    seq = metadata.get("seq", metadata.get("Seq"))
    if seq is not None:
        tags.append(f"seq {seq}")
    prefix = f"[{' '.join(tags)}] ".encode() if tags else b""
    return prefix + dump_json(envelope.data) + b"\n"


class Console(OutputProvider[ConsoleConfig]):
    name = "console"
    config_class = ConsoleConfig

    @property
    def exact_numbers(self) -> bool:
        # simple and structured print the data again: its numbers exactly as they came.
        return self.config.format != "json"

    async def write(self, batch: list[Envelope]) -> None:
        style = self.config.format
        if style == "simple":
            lines = [simple_line(e) for e in batch]
        elif style == "json":
            lines = [
                (e.raw if e.raw is not None else dump_json(e.to_dict())) + b"\n" for e in batch
            ]
        else:
            lines = [dump_json(e.to_dict(), indent=True) + b"\n" for e in batch]
        self.emit(b"".join(lines))


def main() -> None:
    run_provider(Console)


if __name__ == "__main__":
    main()
