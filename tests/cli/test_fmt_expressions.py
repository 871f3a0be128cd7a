"""`dstream fmt` spaces the tokens inside expressions as `terraform fmt` does (hclwrite's
rules: one space around binary operators, `=`, `=>`, `?` and `:`, and after a comma;
none inside `( )` and `[ ]`; one inside a one-line `{ }` with content, none in an
empty `{}`), where it used to leave them as typed.

The expected texts were produced by terraform 1.11.4 (`terraform fmt -` on the input):
recorded here, as the other fmt tests record them, so the test needs no terraform.
"""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

# Each line one case: `{a="1"}`, `[1,2,3]`, `f( 1 )`, `a-1` (one name in HCL), `!a&&b`,
# `x ? -1 : 1`, a for expression, an index after a string, heredocs and comments, ...
EXPRESSIONS = """\
a = {a="1"}
b = [1,2,3]
c = f(1,2)
d = 1+2*3
e = x>=2
f = [ 1 , 2 ]
g = f( 1 )
h={ }
i = {for k,v in m: k=>v}
j = [for x in [1,2]: x*2 if x>1]
k = a?b:c
l = -1
m = a-1
n = !a&&b||c
o = x[0]
p = x.y[1].z
q = x[*].id
r = f(a...)
u = (1+2)*3
v = a==b
w = a!=b
x = {"k"=1,k2=2}
y = [{a=1},{b=2}]
z = -x
aa = 1 - -2
ab = [-1, 2]
ac = a % 2
ad = [for x in var.l : x]
ae = upper("x")[0]
af = { a = 1 , b = 2 }
ag = x ? -1 : 1
ah = (a)
ai = [ ]
aj = {a={b={}}}
ak = [x.*.y]
al = provider::foo::bar(1)
am = {
  a=1
  bb = [1,2]
  c = {d=1}
}
an = [
  1,2,
  3
]
ao = f(
  1,2
)
ap = "a" /* c */ + "b"
aq = 1+2 # c
ar = ["a","b"] // t
as = <<EOF
x+1 = [1,2]
EOF
at = <<-EOT
  y
  EOT
au = [for s in ["a"]: upper(s)]
av = {for i,v in ["a","b"]: v=>i...}
aw = 1.5e3
ax = "x"[0]
ay = a<b
az = a>b
ba = a<=b
bb = a / b
bc = tomap({a=1})
bd = f(1)[0]
be = [[1,2],[3]]
bf = x[ 0 ]
bg = {(k)=1}
bh = true&&false
bi = null
bj = "%{if a}x%{endif}"
bk = f(-1)
bl = a*-1
bm = [1,2,]
bn = {a=1,}
bo = x.0
bp = f(1) + f(2)
task "x" {
  output {path="x"}
  input {a = [1,2]}
}
locals {
c = x ? {} : []
d = !(a)
e = [for k,v in {a=1}: k]
f = {
for k, v in m:
k=>v
}
g = merge(local.a,{b=1},[1][0])
h = a /* x */ ? b:c
j = [ # open
1,
]
k = (
a+b
)
l = x[0][1]
m = x[0].y
n = -(1)
o = a.b.c-1
p = 10%3
q = "a\\"b"
r = 1e-3
s = a==-1
t = tolist( [ ] )
u = {a=[]}
v = f(x,[1])
w = [{},{}]
x = ["${a} b", "c"]
y = lookup(m,"k",null)
z =a
}
task "t" {
input {provider_path="x"}
output {
provider_path = "y" # c
config {tables=["a","b"]}
}
}
"""

# `terraform fmt -` (v1.11.4)'s output for EXPRESSIONS.
EXPRESSIONS_FORMATTED = """\
a  = { a = "1" }
b  = [1, 2, 3]
c  = f(1, 2)
d  = 1 + 2 * 3
e  = x >= 2
f  = [1, 2]
g  = f(1)
h  = {}
i  = { for k, v in m : k => v }
j  = [for x in [1, 2] : x * 2 if x > 1]
k  = a ? b : c
l  = -1
m  = a-1
n  = !a && b || c
o  = x[0]
p  = x.y[1].z
q  = x[*].id
r  = f(a...)
u  = (1 + 2) * 3
v  = a == b
w  = a != b
x  = { "k" = 1, k2 = 2 }
y  = [{ a = 1 }, { b = 2 }]
z  = -x
aa = 1 - -2
ab = [-1, 2]
ac = a % 2
ad = [for x in var.l : x]
ae = upper("x")[0]
af = { a = 1, b = 2 }
ag = x ? -1 : 1
ah = (a)
ai = []
aj = { a = { b = {} } }
ak = [x.*.y]
al = provider::foo::bar(1)
am = {
  a  = 1
  bb = [1, 2]
  c  = { d = 1 }
}
an = [
  1, 2,
  3
]
ao = f(
  1, 2
)
ap = "a" /* c */ + "b"
aq = 1 + 2      # c
ar = ["a", "b"] // t
as = <<EOF
x+1 = [1,2]
EOF
at = <<-EOT
  y
  EOT
au = [for s in ["a"] : upper(s)]
av = { for i, v in ["a", "b"] : v => i... }
aw = 1.5e3
ax = "x" [0]
ay = a < b
az = a > b
ba = a <= b
bb = a / b
bc = tomap({ a = 1 })
bd = f(1)[0]
be = [[1, 2], [3]]
bf = x[0]
bg = { (k) = 1 }
bh = true && false
bi = null
bj = "%{if a}x%{endif}"
bk = f(-1)
bl = a * -1
bm = [1, 2, ]
bn = { a = 1, }
bo = x.0
bp = f(1) + f(2)
task "x" {
  output { path = "x" }
  input { a = [1, 2] }
}
locals {
  c = x ? {} : []
  d = !(a)
  e = [for k, v in { a = 1 } : k]
  f = {
    for k, v in m :
    k => v
  }
  g = merge(local.a, { b = 1 }, [1][0])
  h = a /* x */ ? b : c
  j = [ # open
    1,
  ]
  k = (
    a + b
  )
  l = x[0][1]
  m = x[0].y
  n = -(1)
  o = a.b.c-1
  p = 10 % 3
  q = "a\\"b"
  r = 1e-3
  s = a == -1
  t = tolist([])
  u = { a = [] }
  v = f(x, [1])
  w = [{}, {}]
  x = ["${a} b", "c"]
  y = lookup(m, "k", null)
  z = a
}
task "t" {
  input { provider_path = "x" }
  output {
    provider_path = "y" # c
    config { tables = ["a", "b"] }
  }
}
"""


def test_expressions_are_spaced_as_terraform_fmt_spaces_them(ws: Workspace) -> None:
    (ws.root / "dstream.hcl").write_text(EXPRESSIONS)
    done = ws.run("fmt", "dstream.hcl")
    assert done.returncode == 0, done.stderr
    assert (ws.root / "dstream.hcl").read_text() == EXPRESSIONS_FORMATTED
    assert ws.run("fmt", "--check", "dstream.hcl").returncode == 0  # idempotent
    done = ws.run("fmt", "-", input=EXPRESSIONS.encode())  # the same for an editor
    assert (done.returncode, done.stdout) == (0, EXPRESSIONS_FORMATTED), done.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A Go template action (config/templates.py) is one token, its quotes its own.
        ('a = {{ env "X" }}\n', 'a = {{ env "X" }}\n'),
        ('b = [ {{ env "X" }} , 1]\n', 'b = [{{ env "X" }}, 1]\n'),
        ('c = "x{{ env "Y" }}"\n', 'c = "x{{ env "Y" }}"\n'),
        # A quoted string's text is kept as typed, its `${ }` too (terraform fmt writes
        # `${b}`: docs/cli.md).
        ('d = [ "  ${ b }  " ,1]\n', 'd = ["  ${ b }  ", 1]\n'),
    ],
    ids=["action", "action-in-a-list", "action-in-a-string", "interpolation"],
)
def test_strings_and_template_actions_are_kept_as_typed(
    ws: Workspace, text: str, expected: str
) -> None:
    done = ws.run("fmt", "-", input=text.encode())
    assert (done.returncode, done.stdout) == (0, expected), done.stderr
