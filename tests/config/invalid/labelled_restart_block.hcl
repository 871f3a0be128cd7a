task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
  restart "always" { attempts = 3 }
}
# expect: 4:11: restart block takes no label
