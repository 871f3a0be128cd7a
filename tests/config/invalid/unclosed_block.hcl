task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
# expect: 1:10: syntax error: this `{` is not closed
