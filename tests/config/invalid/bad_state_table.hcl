state {
  backend = "postgres"
  dsn     = "postgresql://u@localhost/db"
  table   = "public.dstream.state"
}
# expect: 4:13: invalid state table name 'public.dstream.state'
