task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
  invalid_frames = "skipp"
}
# expect: 4:20: invalid_frames in task "t" must be one of fail, skip, dead_letter, not 'skipp'
