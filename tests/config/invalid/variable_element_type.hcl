variable "ports" {
  type    = list(number)
  default = ["http", "https"]
}
# hint: give var.ports[0] a number value, or change the variable's type
# expect: 3:14: variable "ports" has type list(number), but var.ports[0] is a string that is not a number
