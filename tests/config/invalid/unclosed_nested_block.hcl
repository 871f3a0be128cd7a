task "t" {
  output { provider_path = "dstream-console" }
  input {
    provider_path = "dstream-counter"
  }
  # the input's `}` above closes the input; the task's own is missing
# hint: add the missing `}` (the end of the file came first)
# expect: 1:10: syntax error: this `{` is not closed
