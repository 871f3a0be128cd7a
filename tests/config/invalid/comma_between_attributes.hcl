task "t" {
  input {
    provider_path = "dstream-counter"
    config { max_count = 3, interval = 0 }
  }
  output { provider_path = "dstream-console" }
}
# hint: attributes are separated by new lines, not commas (commas separate the items of a list or an object): put each attribute on a line of its own
# expect: 4:27: syntax error: unexpected `,`; expected a name or a new line or end of file or `}`
