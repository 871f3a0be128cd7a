task "t" {
  input {
    provider_path = "dstream-counter"
    config { x = local.tables }
  }
  output { provider_path = "dstream-console" }
}
# expect: 4:24: undefined local value local.tables
