# The reference example from the original DStream's plans: one list of tables shared
# by input and output through locals, and a connection string from the environment.
locals {
  tables = ["dbo.Orders", "dbo.Customers"]
  database_connection = "{{ env \"DATABASE_CONNECTION_STRING\" }}"
}

task "mssql-to-queue" {
  type = "providers"

  input {
    provider_path = "dstream-counter"
    config {
      db_connection_string = local.database_connection
      tables               = local.tables
    }
  }

  output {
    provider_path = "dstream-console"
    config {
      tables = local.tables
    }
  }
}
