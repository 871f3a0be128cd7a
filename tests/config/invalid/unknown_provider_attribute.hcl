task "t" {
  input { provder_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
}
# expect: 2:11: unknown attribute 'provder_path' in input of task "t"
