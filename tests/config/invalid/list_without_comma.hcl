locals {
  tables = ["orders" "customers"]
}
# hint: a list's items are separated by commas: add the missing `,` (or close it with `]`)
# expect: 2:22: syntax error: unexpected `"`; expected `,` or `]` or a new line
