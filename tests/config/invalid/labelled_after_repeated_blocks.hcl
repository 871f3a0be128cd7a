task "t" {
  input {
    provider_path = "dstream-counter"
    config {
      table { key = "id" }
      table { key = "cid" }
      table "orders" { key = "oid" }
    }
  }
  output { provider_path = "dstream-console" }
}
# expect: 7:7: a labelled table block in config of input of task "t" follows repeated unlabelled table blocks
