locals {
  name = upper("abc"
}
# hint: a call's arguments are separated by commas: add the missing `,` (or close it with `)`)
# expect: 3:1: syntax error: unexpected `}`; expected `)` or `,` or a new line
