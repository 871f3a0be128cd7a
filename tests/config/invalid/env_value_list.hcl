task "t" {
  input {
    provider_path = "dstream-counter"
    env = { TABLES = ["a"] }
  }
  output { provider_path = "dstream-console" }
}
# expect: 4:11: env TABLES in input of task "t" must be a string, not a list
