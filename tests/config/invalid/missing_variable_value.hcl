variable "password" {
  sensitive = true
}
# expect: 1:1: variable "password" has no value
