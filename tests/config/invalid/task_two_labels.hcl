task "ingester-mssql" "orders" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
}
# expect: 1:23: a task block takes exactly one label, its name; got 2
