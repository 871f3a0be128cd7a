task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
  invalid_frames = "dead_letter"
}
# expect: 4:20: task "t" sets invalid_frames = "dead_letter" without dead_letter_path
