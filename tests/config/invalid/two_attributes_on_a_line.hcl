task "t" {
  input {
    provider_path = "dstream-counter"
    config {
      max_count = 3  interval = 0
    }
  }
  output { provider_path = "dstream-console" }
}
# hint: HCL ends each attribute and block with a new line: start a new line before it (`dstream fmt` does it for you)
# expect: 5:22: an attribute cannot follow an attribute on the same line
