"""Table-aware queue outputs: one routing core (`routing`), one module per broker
(`rabbitmq`, `servicebus`). Each envelope goes to the queue of its `metadata.TableName`;
`dstream init` declares those queues, `dstream destroy` removes them."""
