task "t" {
  input {
    provider_path = "dstream-counter"
    provider_ref  = "127.0.0.1:5000/providers/counter:1.0"
  }
  output { provider_path = "dstream-console" }
}
# expect: 4:5: input of task "t" sets provider_path and provider_ref; a provider comes from exactly one source
