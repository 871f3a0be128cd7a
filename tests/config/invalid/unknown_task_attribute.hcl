task "t" {
  max_frame_sise = "1MiB"
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
}
# expect: 2:3: unknown attribute 'max_frame_sise' in task "t"
