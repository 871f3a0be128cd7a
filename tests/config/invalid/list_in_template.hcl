locals {
  tables = ["a", "b"]
  name   = "events_${local.tables}"
}
# expect: 3:22: an interpolated value is a list, not a string
