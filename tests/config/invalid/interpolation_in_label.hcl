locals {
  name = "orders"
}
task "${local.name}-copy" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
}
# hint: write "$${" for a literal "${"
# expect: 4:7: a block label cannot hold an interpolation (${): it is literal text
