"""The provider author kit: `dstream provider new` scaffolding (dstream.kit.scaffold)
and the `dstream provider test` conformance suite (dstream.kit.conformance), which runs
any provider executable, in any language, against the wire contract of docs/protocol.md.
"""
