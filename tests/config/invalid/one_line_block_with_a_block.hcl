task "t" {
  input { provider_path = "dstream-counter"  config { max_count = 3 } }
  output { provider_path = "dstream-console" }
}
# hint: write the block over several lines, each attribute and block on a line of its own (`dstream fmt` does it for you)
# expect: 2:46: a one-line block cannot hold a block
