variable "port" {
  type    = number
  default = "fifty"
}
# expect: 3:13: variable "port" has type number, but its value is a string that is not a number
