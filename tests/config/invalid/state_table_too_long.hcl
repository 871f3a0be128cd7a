state {
  backend = "postgres"
  dsn     = "postgresql://u@localhost/db"
  table   = "ops.dstream_state_of_the_orders_pipeline_in_the_eu_west_1_region"
}
# hint: PostgreSQL cuts names at 63 bytes, and dstream names tables after the state table (the longest is <table>_agents): shorten it to 56 characters or fewer
# expect: 4:13: state table name 'dstream_state_of_the_orders_pipeline_in_the_eu_west_1_region' is 60 characters long, more than 56
