metrics { addr = "127.0.0.1:99999" }
task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
}
# hint: write addr = "127.0.0.1:9464"
# expect: 1:18: metrics addr: port 99999 of '127.0.0.1:99999' is not in 0-65535
