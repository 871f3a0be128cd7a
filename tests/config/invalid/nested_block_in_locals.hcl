locals {
  a = 1
  db {
    host = "x"
  }
}
# expect: 3:3: locals cannot contain blocks; found db { }
