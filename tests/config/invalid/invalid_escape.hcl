task "orders" {
  input {
    provider_path = "dstream-counter"
    config { path = "C:\data\orders" }
  }
  output { provider_path = "dstream-console" }
}
# hint: the escapes are \n \r \t \" \\ \uNNNN \UNNNNNNNN, and $${ and %%{ for a literal ${ and %{: write a backslash itself as \\
# expect: 4:24: invalid escape sequence \d
