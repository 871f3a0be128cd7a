locals {
  a = local.b
  b = "${local.c}-x"
  c = local.a
}
# expect: 2:3: locals refer to each other in a cycle: local.a -> local.b -> local.c -> local.a
