variable "tables" {
  type    = list(strng)
  default = []
}
# expect: 2:18: unknown type strng
