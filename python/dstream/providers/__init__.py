"""Providers that ship with dstream, each a console script built on dstream.sdk:
dstream-counter (input), dstream-console, dstream-null and dstream-file (outputs)."""
