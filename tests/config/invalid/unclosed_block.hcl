task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
# expect: 5:1: syntax error: unexpected end of file; expected `}`
