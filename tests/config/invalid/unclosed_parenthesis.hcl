locals {
  n = (1 + 2
}
# hint: a parenthesis is not closed: add the missing `)`
# expect: 3:1: syntax error: unexpected `}`; expected `)` or a new line
