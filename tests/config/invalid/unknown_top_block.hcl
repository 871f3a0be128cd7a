tasks "t" {
  input { provider_path = "dstream-counter" }
}
# expect: 1:1: unknown block 'tasks' at the top level
