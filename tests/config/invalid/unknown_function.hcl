locals {
  a = uper("x")
}
# expect: 2:7: unknown function uper()
