variable "db" {
  type = object({
    host = string
    port = number
  })
  default = { host = "h" }
}
# hint: add port = ... to var.db, or declare the attribute optional in the variable's type: port = optional(number)
# expect: 6:13: variable "db" has type object({host = string, port = number}), but its value has no attribute 'port'
