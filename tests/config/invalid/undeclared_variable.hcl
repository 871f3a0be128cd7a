variable "region" { default = "eu" }
task "t" {
  input {
    provider_path = "dstream-counter"
    config { r = var.regoin }
  }
  output { provider_path = "dstream-console" }
}
# expect: 5:22: undeclared variable var.regoin
