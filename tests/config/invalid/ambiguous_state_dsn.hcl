state {
  backend = "postgres"
  dsn     = "postgresql://app:p@ss@localhost/db"
}
# expect: 3:13: the state dsn is a postgresql:// URI with an unencoded "@" or "/" in its user name or password: libpq would read the rest of the password as the host name, and show it in its errors
