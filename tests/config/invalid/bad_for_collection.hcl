locals {
  n = 3
  l = [for x in local.n : x]
}
# expect: 3:17: a for expression needs a list or object, got a number
