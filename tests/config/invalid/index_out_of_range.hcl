locals {
  tables = ["a", "b"]
  third  = local.tables[2]
}
# expect: 3:25: index 2 is out of range: the list has 2 element(s)
