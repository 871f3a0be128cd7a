locals {
  tables = ["a"]
  db     = "shop"
}
task "t" {
  input {
    provider_path = "dstream-counter"
    config { tables = local.tabels }
  }
  output { provider_path = "dstream-console" }
}
# expect: 8:29: undefined local value local.tabels
