task "t" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
  dead_letter_path = "dead/t.jsonl"
}
# expect: 4:22: task "t" sets dead_letter_path, but invalid_frames is "fail": no frame is ever written there
