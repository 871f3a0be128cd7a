"""The wire contract between dstream and providers (docs/protocol.md)."""
