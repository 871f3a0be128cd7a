task "t" {
  max_frame_size =
  input { provider_path = "dstream-counter" }
}
# expect: 2:19: syntax error: unexpected end of line; expected a value (a number, a "string", a [list], an { object }, or an expression)
