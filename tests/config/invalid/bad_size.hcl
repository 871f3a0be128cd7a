task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
  max_frame_size = "16 parsecs"
}
# expect: 4:20: max_frame_size in task "t" must be a size, not '16 parsecs'
