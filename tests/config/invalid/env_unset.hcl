task "t" {
  input {
    provider_path = "dstream-counter"
    config { dsn = env("DSTREAM_TEST_SURELY_UNSET") }
  }
  output { provider_path = "dstream-console" }
}
# expect: 4:20: environment variable DSTREAM_TEST_SURELY_UNSET is not set
