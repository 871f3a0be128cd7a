locals {
  var = "x"
}
# expect: 2:3: 'var' is a reserved word and cannot name a local value
