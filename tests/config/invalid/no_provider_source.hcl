task "t" {
  input {
    config { a = 1 }
  }
  output { provider_path = "dstream-console" }
}
# expect: 2:3: input of task "t" names no provider
