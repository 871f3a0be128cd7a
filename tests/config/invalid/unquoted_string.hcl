task "t" {
  input { provider_path = dstream-counter }
  output { provider_path = "dstream-console" }
}
# expect: 2:27: unknown name `dstream-counter`
