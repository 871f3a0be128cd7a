state {
  backend = "postgres"
  dsn     = "postgresql://u@localhost/db"
  table   = "ops.dstream_state_of_the_orders_pipeline_in_the_eu_west_1_region_x"
}
# hint: PostgreSQL cuts names at 63 bytes, and the tables dstream names after the state table (<table>_lease, _runs, _input, _agents) must stay distinct when cut: shorten it to 61 characters or fewer
# expect: 4:13: state table name 'dstream_state_of_the_orders_pipeline_in_the_eu_west_1_region_x' is 62 characters long, more than 61
