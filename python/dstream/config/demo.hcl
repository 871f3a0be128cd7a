# The built-in task behind `dstream run demo`: a counter printed by the console output.
task "demo" {
  type = "providers"

  input {
    provider_path = "dstream-counter"
    config {
      interval  = 500
      max_count = 10
    }
  }

  output {
    provider_path = "dstream-console"
    config {
      format = "simple"
    }
  }
}
