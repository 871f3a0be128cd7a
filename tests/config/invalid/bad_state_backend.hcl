state {
  backend = "postgress"
}
# expect: 2:13: state backend 'postgress' is not known; use one of file, postgres
