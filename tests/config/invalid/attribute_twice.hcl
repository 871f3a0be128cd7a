task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
  passthrough = true
  passthrough = false
}
# expect: 5:3: attribute 'passthrough' is set twice (first at {file}:4:3)
