task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
  start_timeout = "soon"
}
# expect: 4:19: start_timeout in task "t" must be a duration, not 'soon'
