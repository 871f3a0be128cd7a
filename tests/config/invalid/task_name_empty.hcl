task "" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
}
# expect: 1:6: a task name cannot be empty
