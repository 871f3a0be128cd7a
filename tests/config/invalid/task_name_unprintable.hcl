task "orders\u00a0eu" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
}
# hint: a task name is 1 to 64 bytes of printable text (letters, digits, '-', '_' and '.' read best): it names the task's state files, log lines and table rows
# expect: 1:6: task name 'orders\xa0eu' holds the unprintable character U+00A0
