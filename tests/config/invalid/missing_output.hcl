task "t" {
  input { provider_path = "dstream-counter" }
}
# expect: 1:1: task "t" has no output block
