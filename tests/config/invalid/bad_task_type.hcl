task "t" {
  type = "plugin"
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
}
# expect: 2:10: task type 'plugin' is not supported; tasks have type "providers"
