# SQL Server change data capture -> Azure Service Bus, one queue per table.
# The reference configuration for Azure users:
#
#   export MSSQL_CONNECTION_STRING="sqlserver://user:pass@host:1433/shop"
#   export SERVICEBUS_CONNECTION_STRING="Endpoint=sb://NAMESPACE.servicebus.windows.net/;SharedAccessKeyName=dstream;SharedAccessKey=..."
#   dstream plan    orders -c examples/mssql-servicebus.hcl
#   dstream init    orders -c examples/mssql-servicebus.hcl   # needs a Manage claim
#   dstream run     orders -c examples/mssql-servicebus.hcl   # needs Send
#   dstream status  orders -c examples/mssql-servicebus.hcl
#   dstream destroy orders -c examples/mssql-servicebus.hcl
#
# See docs/queues.md for what was and was not verified against real Azure.
locals {
  # dstream-mssql-cdc writes TableName "Orders" with Schema "dbo"; the output matches
  # that to "dbo.Orders" here, so both sides share one list.
  tables = ["dbo.Orders", "dbo.Customers", "dbo.OrderLines"]
}

state {
  path = ".dstream/state"
}

task "orders" {
  input {
    provider_path = "dstream-mssql-cdc"
    config {
      connection_string = env("MSSQL_CONNECTION_STRING")
      tables            = local.tables
      poll_interval     = "1s"
      max_poll_interval = "30s"
    }
  }

  output {
    provider_path = "dstream-servicebus"
    config {
      connection_string = env("SERVICEBUS_CONNECTION_STRING")
      tables            = local.tables
      queue_pattern     = "{schema}.{table}_cdc_events" # dbo.Orders_cdc_events
      tier              = "standard"                    # 256 KB batches; "premium": 1 MB
      # Service Bus drops a message whose id it saw within the detection window: a
      # change redelivered after a crash keeps its id (table + LSN + digest).
      requires_duplicate_detection = true
      default_message_time_to_live = "P14D"
      unknown_table                = "dead_letter" # never lose a change of a new table
      dead_letter_queue            = "{task}_unrouted"
      retry_attempts               = 6
    }
  }

  restart {
    attempts = 5
    backoff  = "2s"
  }
}
