locals {
  tables = ["a",
    "b"
# hint: add the missing `]` (the end of the file came first)
# expect: 2:12: syntax error: this `[` is not closed
