# Counter -> RabbitMQ, one durable queue per table.
#
#   dstream init   counts -c examples/counter-rabbitmq.hcl   # declares the 3 queues
#   dstream plan   counts -c examples/counter-rabbitmq.hcl   # "No changes." now
#   dstream run    counts -c examples/counter-rabbitmq.hcl   # 300 changes, 100 per queue
#   dstream status counts -c examples/counter-rabbitmq.hcl   # message counts per queue
#   dstream plan --destroy counts -c examples/counter-rabbitmq.hcl
#   dstream destroy counts -c examples/counter-rabbitmq.hcl
#
# Needs a RabbitMQ on RABBITMQ_URL (default: guest on 127.0.0.1:5672).
locals {
  tables = ["dbo.Orders", "dbo.Customers", "dbo.OrderLines"]
}

task "counts" {
  input {
    provider_path = "dstream-counter"
    config {
      interval         = 0
      max_count        = 300
      checkpoint_every = 100
      tables           = local.tables # metadata.TableName rotates through these
    }
  }

  output {
    provider_path = "dstream-rabbitmq"
    config {
      url           = env("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
      tables        = local.tables
      queue_pattern = "{TableName}_cdc_events" # dbo.Orders -> dbo.Orders_cdc_events
      unknown_table = "error"                  # or "create", "dead_letter"
    }
  }
}
