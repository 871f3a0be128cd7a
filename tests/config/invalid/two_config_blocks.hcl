task "t" {
  input {
    provider_path = "dstream-counter"
    config { a = 1 }
    config { b = 2 }
  }
  output { provider_path = "dstream-console" }
}
# expect: 5:5: input of task "t" has more than one config block (first at {file}:4:5)
