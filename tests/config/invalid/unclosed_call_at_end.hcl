locals {
  name = upper(
# hint: add the missing `)` (the end of the file came first)
# expect: 2:15: syntax error: this `(` is not closed
