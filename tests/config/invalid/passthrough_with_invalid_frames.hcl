task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
  passthrough = true
  invalid_frames = "skip"
}
# expect: 5:20: task "t" sets invalid_frames with passthrough = true, which forwards every line unread
