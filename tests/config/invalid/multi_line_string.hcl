task "orders" {
  input {
    provider_path = "dstream-counter"
    config {
      query = "select *
        from orders"
    }
  }
  output { provider_path = "dstream-console" }
}
# hint: write a line break as \n, or text over several lines as a heredoc (<<-EOT, the lines, then EOT on a line of its own)
# expect: 5:24: a quoted string cannot span lines
