task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
}

task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
}
# expect: 6:6: task "t" is defined twice: at {file}:1:6 and here
