locals { a = 1 }
locals { b = 2 }
# expect: 2:1: more than one locals block in {file} (first at {file}:1:1)
