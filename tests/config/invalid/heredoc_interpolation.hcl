locals {
  table = "orders"
}
task "orders" {
  input {
    provider_path = "dstream-counter"
    config {
      query = <<-SQL
        select *
          from ${local.tabel}
         where id > 0
      SQL
    }
  }
  output { provider_path = "dstream-console" }
}
# expect: 10:24: undefined local value local.tabel
