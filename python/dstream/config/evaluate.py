"""Evaluates HCL2 expressions (python-hcl2's parse trees, as config/tree.py keeps them)
to plain Python values.

No PyPI package evaluates HCL2 completely, so this covers what a dstream.hcl needs:
literals, string templates with `${}` and `%{if}`/`%{for}`, heredocs, lists, objects,
`local.*`, `var.*`, indexing, splats, operators, conditionals, `for` expressions and
the functions in dstream.config.functions. Every error carries file:line:col. Strings
and heredocs are rendered in config/strings.py; locals and variables live in the
configuration's scope (config/scope.py).

Values: str, int, float, bool, None, list, dict — numbers stay numbers, lists and maps
keep their type (a string that is exactly "${local.list}" yields the list, as in HCL).
"""

from __future__ import annotations

import os

from dstream.config.builtins import CATCHING, every_function, function_named, usage_hint
from dstream.config.functions import (
    CallContext,
    EnvUnset,
    FunctionError,
    as_bool,
    equal,
    to_number,
    to_string,
    type_name,
)
from dstream.config.limits import MAX_ELEMENTS, MAX_TREE_DEPTH, value_problem
from dstream.config.model import Location
from dstream.config.nfc import AS_GIVEN, nfc, nfc_text
from dstream.config.numbers import (
    NUMBER_HINT,
    OUT_OF_RANGE,
    BadNumber,
    arithmetic,
    number_problem,
    parse_number,
)
from dstream.config.scope import FailsWhereUsed, MissingValue, Module, StaticError, name_hint
from dstream.config.strings import directive_string, heredoc, quoted
from dstream.config.syntax import SourceFile, bare_key, locate, trees
from dstream.config.templates import TEMPLATE_FUNCTION, TEMPLATE_VALUE_FUNCTION, template_value
from dstream.config.tree import Token, Tree
from dstream.errors import ConfigError, nearest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, TypeVar

    from dstream.config.tree import Node
    from dstream.protocol.values import JsonObject, JsonValue

    T = TypeVar("T")

# What to do, for errors whose own words cannot say more.
EXPRESSION_HINT = "docs/configuration.md lists the expressions and functions dstream.hcl has"
KEY_HINT = "an object key is a string: convert a number or bool with tostring()"


class Evaluator:
    def __init__(
        self,
        source: SourceFile,
        module: Module,
        *,
        names: Optional[JsonObject] = None,
        constant: Optional[str] = None,
    ) -> None:
        self.source = source
        self.module = module
        self.names = names or {}  # for-expression variables
        # What the expression is when it must be a constant, which no var.* or local.*
        # reaches: "a variable's default", "a var file's value".
        self.constant = constant
        base_dir = os.path.dirname(source.path) or "."
        module.taint.watch(module.environ)
        self.context = CallContext(module.environ, base_dir, module.reads, module.taint)

    def where(self, node: Node) -> Location:
        return locate(node, self.source.source_map)

    def fail(self, node: Node, reason: str, hint: str) -> ConfigError:
        """The error at `node`: every one says what to do (`hint`)."""
        return ConfigError(reason, location=self.where(node), hint=hint)

    def convert(
        self,
        node: Node,
        conversion: Callable[[object, str], T],
        value: object,
        what: str,
        hint: str,
    ) -> T:
        """`conversion(value, what)` (to_string, to_number), failing at `node` with the
        conversion's own hint, else `hint`."""
        try:
            return conversion(value, what)
        except FunctionError as exc:
            raise self.fail(node, exc.reason, exc.hint or hint) from None

    def child(self, names: JsonObject) -> Evaluator:
        merged = dict(self.names)
        merged.update(names)
        return Evaluator(self.source, self.module, names=merged, constant=self.constant)

    # -- dispatch ----------------------------------------------------------------------

    def eval(self, node: Node) -> JsonValue:
        if isinstance(node, Token):
            raise self.fail(node, f"unexpected {node.value!r}", EXPRESSION_HINT)
        handler = getattr(self, "_" + node.data, None)
        if handler is None:
            raise self.fail(
                node, f"expressions of kind {node.data} are not supported", EXPRESSION_HINT
            )
        module = self.module
        if module.depth >= MAX_TREE_DEPTH:
            raise self.fail(
                node,
                f"expressions (with the locals they use) nest more than {MAX_TREE_DEPTH} "
                "levels deep",
                "shorten the chain of locals that refer to each other",
            )
        module.depth += 1
        try:
            # No sensitive value, none to read: nothing to track, no extra frame.
            taint = module.taint
            value: JsonValue = (
                taint.track(node.data, handler, node) if taint.tracking else handler(node)
            )
        finally:
            module.depth -= 1
        if isinstance(value, (str, list, dict)) and len(value) > MAX_ELEMENTS:
            problem = value_problem(value)
            if problem is not None:
                raise self.fail(
                    node,
                    f"this expression makes {problem}",
                    "build a smaller value, or read a large one from a file with file()",
                )
        # Where every number is made: an overflowed double (inf) would reach the
        # provider as null. Containers hold only numbers checked here or by decode_config_json.
        elif value.__class__ is float or value.__class__ is int:
            problem = number_problem(value)
            if problem is not None:
                raise self.fail(node, f"this expression makes {problem}", NUMBER_HINT)
        return value

    def _expr_term(self, node: Tree) -> JsonValue:
        inner = trees(node)
        if len(inner) != 1:
            raise self.fail(node, "malformed expression", EXPRESSION_HINT)
        return self.eval(inner[0])

    def _int_lit(self, node: Tree) -> JsonValue:
        return self._float_lit(node)

    def _float_lit(self, node: Tree) -> JsonValue:
        try:
            return parse_number(str(node.children[0]))
        except BadNumber as exc:  # the literal as written, not the inf it would be
            raise self.fail(node, exc.reason, NUMBER_HINT) from None

    def _literal_value(self, node: Tree) -> JsonValue:
        return {"true": True, "false": False, "null": None}[str(node.children[0])]

    def _tuple(self, node: Tree) -> JsonValue:
        return [self.eval(item) for item in trees(node)]

    def _object(self, node: Tree) -> JsonValue:
        out: JsonObject = {}
        for element in trees(node):
            key_node, value_node = trees(element)
            key = self._object_key(key_node)
            if key in out:
                raise self.fail(
                    key_node,
                    f"key {key!r} appears twice in this object",
                    "remove one of them, or merge(...) objects where a later key wins",
                )
            out[key] = self.eval(value_node)
        return out

    def _object_key(self, node: Tree) -> str:
        # A bare name is the key itself, as in HCL: `{ host = "x" }`.
        key = bare_key(node)
        if key is not None:  # the key is a string value: composed, as the name is not
            return nfc_text(key)
        inner = trees(node)[0]
        return self.convert(inner, to_string, self.eval(inner), "an object key", KEY_HINT)

    # -- strings (config/strings.py) ----------------------------------------------------

    # The text a string or heredoc spells is composed as its parts are joined
    # (config/strings.py), never what an interpolation puts in (config/nfc.py says why).

    def _string(self, node: Tree) -> JsonValue:
        return quoted(self, node)

    def _template_string(self, node: Tree) -> JsonValue:
        return nfc_text(directive_string(node))

    def _heredoc_template(self, node: Tree) -> JsonValue:
        return heredoc(self, node, trim=False)

    def _heredoc_template_trim(self, node: Tree) -> JsonValue:
        return heredoc(self, node, trim=True)

    # -- names and references ----------------------------------------------------------

    def _identifier(self, node: Tree) -> JsonValue:
        name = str(node.children[0])
        if name in self.names:
            return self.names[name]
        if name in ("local", "var"):
            raise self.fail(
                node,
                f"`{name}` must be followed by .NAME, as in {name}.example",
                f"name the value: {name}.NAME",
            )
        hint = (
            'values come from local.NAME, var.NAME or env("NAME"); '
            f'if you meant the text, quote it: "{name}"'
        )
        raise self.fail(node, f"unknown name `{name}`", hint)

    def _get_attr_expr_term(self, node: Tree) -> JsonValue:
        base, attr = node.children
        name_node = trees(attr)[0]
        name = str(name_node.children[0])
        root = _root_name(base)
        if root == "local" and root not in self.names:
            self._check_references(node, "local")
            return self.module.local(name, self.where(name_node))
        if root == "var" and root not in self.names:
            self._check_references(node, "var")
            return self._variable(name, name_node)
        value = self.eval(base)
        return self._attribute_of(value, name, name_node)

    def _check_references(self, node: Tree, root: str) -> None:
        if self.constant is not None:
            raise self.fail(
                node,
                f"{self.constant} cannot refer to {root}.*",
                f"{self.constant} must be a constant: write the value itself; compute "
                "derived values in `locals`",
            )

    def _variable(self, name: str, node: Tree) -> JsonValue:
        if name in self.module.unset_variables:
            raise self.module.unset_variables[name]
        if name not in self.module.variables:
            hint = name_hint(
                "var",
                name,
                sorted(self.module.variables),
                "declared variables",
                f'declare it: variable "{name}" {{ default = ... }}',
            )
            raise StaticError(
                f"undeclared variable var.{name}", location=self.where(node), hint=hint
            )
        return self.module.variables[name].value

    def _attribute_of(self, value: JsonValue, name: str, node: Node) -> JsonValue:
        if isinstance(value, dict):
            if name in value:
                return value[name]
            guess = nearest(name, value)
            if guess:
                hint = f"did you mean .{guess}?"
            elif value:
                hint = f"keys: {', '.join(sorted(value))}"
            else:
                hint = "the object is empty: `dstream show TASK` prints the values it evaluates"
            raise self.fail(node, f"object has no key {name!r}", hint)
        raise self.fail(
            node,
            f"cannot take .{name} of a {type_name(value)}",
            "only an object has keys: `dstream show TASK` prints the values a task evaluates to",
        )

    def _index_expr_term(self, node: Tree) -> JsonValue:
        base, index = node.children
        return self._apply_index(self.eval(base), index)

    def _apply_index(self, value: JsonValue, index: Tree) -> JsonValue:
        if index.data == "short_index":
            key: JsonValue = int(str(index.children[-1]))
            where: Node = index
        else:
            where = trees(index)[0]
            key = self.eval(where)
        if isinstance(value, list):
            position = self.convert(
                where, to_number, key, "a list index", "a list's index is a whole number, from 0"
            )
            if not (isinstance(position, int) or position.is_integer()):
                raise self.fail(
                    where,
                    f"index {key} is not a whole number",
                    "a list's index is a whole number, from 0",
                )
            if not 0 <= position < len(value):
                raise self.fail(
                    where,
                    f"index {key} is out of range: the list has {len(value)} element(s)",
                    "indexes start at 0; length(list) gives the count",
                )
            return value[int(position)]
        if isinstance(value, dict):
            text = to_string(key, "a key") if not isinstance(key, (list, dict)) else None
            if text is None:
                raise self.fail(where, "an object key must be a string", KEY_HINT)
            return self._attribute_of(value, text, where)
        raise self.fail(
            where,
            f"cannot index a {type_name(value)}",
            'index a list by number (xs[0]) or an object by key (obj["key"])',
        )

    def _splat(self, node: Tree, *, attributes_only: bool = False) -> JsonValue:
        """`list[*].a[0]` applies every step to each element; the attribute-only
        `list.*.a[0]` only the attributes, and what follows them to the list it made
        (HCL's spec: `[for v in list : v.a][0]`)."""
        base, splat = node.children
        value = self.eval(base)
        steps = trees(splat)
        after: list[Tree] = []
        if attributes_only:
            first_index = next((i for i, s in enumerate(steps) if s.data != "get_attr"), None)
            if first_index is not None:
                steps, after = steps[:first_index], steps[first_index:]
        out: JsonValue = []
        if value is not None:
            items = value if isinstance(value, list) else [value]
            out = [self._steps(item, steps) for item in items]
        return self._steps(out, after)

    def _steps(self, value: JsonValue, steps: list[Tree]) -> JsonValue:
        for step in steps:
            if step.data == "get_attr":
                name_node = trees(step)[0]
                value = self._attribute_of(value, str(name_node.children[0]), name_node)
            else:
                value = self._apply_index(value, step)
        return value

    def _attr_splat_expr_term(self, node: Tree) -> JsonValue:
        return self._splat(node, attributes_only=True)

    _full_splat_expr_term = _splat

    # -- operators -----------------------------------------------------------------------

    def boolean(self, node: Node) -> bool:
        """`node`'s value as a condition: true, false, "true" or "false"."""
        value = self.eval(node)
        converted = as_bool(value)
        if converted is not None:
            return converted
        raise self.fail(
            node,
            f"expected true or false, got a {type_name(value)}",
            'compare to make a bool (x == "yes"), or convert text with tobool()',
        )

    def _number(self, node: Node) -> float:
        return self.convert(
            node,
            to_number,
            self.eval(node),
            "operand",
            'arithmetic needs numbers: convert text with tonumber(); join text with "${a}${b}"',
        )

    def _conditional(self, node: Tree) -> JsonValue:
        """The result the condition picks, of the type both results unify to, as HCL's
        (config/unify.py): `true ? 1 : "a"` is "1"."""
        condition, then_node, else_node = trees(node)
        taken, other = (then_node, else_node) if self.boolean(condition) else (else_node, then_node)
        value = self.eval(taken)
        if value is None:  # null is a value of every type: the same null
            return value
        other_value = self._result_not_taken(other)
        if other_value is None:
            return value
        if type(value) is type(other_value) and not isinstance(value, (list, dict)):
            return value  # two strings, numbers or bools of one kind: nothing to unify
        # Here, not at import: unify needs typeexpr, which a plain start does not load.
        from dstream.config.unify import NoCommonType, converted_alike

        try:
            return converted_alike(value, other_value)
        except NoCommonType as exc:
            # What they are, never what they hold; keys hidden when one may be secret.
            taint = self.module.taint
            hide = taint.holds(value) or taint.holds(other_value)
            raise self.fail(
                node,
                "the two results of this conditional have no common type "
                f"({exc.detail(hide_keys=hide)})",
                "give both results the same type: convert one with tostring(), tonumber() "
                "or tobool(), or give both lists the same kind of elements and both "
                "objects the same attributes",
            ) from None

    def _result_not_taken(self, node: Node) -> JsonValue:
        """The value of the result the condition did not pick, for its type only; null
        when it fails: as in HCL, its errors are dropped and it has no known type (a
        guard such as `length(xs) > 0 ? xs[0] : ""` must not fail on an empty list)."""
        module = self.module
        met = len(module.failures_met)
        try:
            return self.eval(node)
        except ConfigError:
            # A failing local it used was not used by the task: lint still warns of it.
            del module.failures_met[met:]
            return None

    def _unary_op(self, node: Tree) -> JsonValue:
        operator = node.children[0]
        operand = node.children[1]
        if isinstance(operator, Token) and operator.type == "NOT":
            return not self.boolean(operand)
        return -self._number(operand)

    def _binary_op(self, node: Tree) -> JsonValue:
        left_node, term = trees(node)[:2]
        operator_node, right_node = trees(term)[:2]
        token = operator_node.children[0]
        assert isinstance(token, Token)  # binary_operator: its one terminal
        from dstream.config.quicklex import OPERATORS  # here: a plain run has no operator

        operator = OPERATORS[token.type]
        if operator == "&&":
            return self.boolean(left_node) and self.boolean(right_node)
        if operator == "||":
            return self.boolean(left_node) or self.boolean(right_node)
        if operator in ("==", "!="):
            same = equal(self.eval(left_node), self.eval(right_node))
            return same if operator == "==" else not same
        left, right = self._number(left_node), self._number(right_node)
        if operator in ("/", "%") and right == 0:
            raise self.fail(right_node, "division by zero", "guard the divisor: d == 0 ? 0 : n / d")
        try:
            return arithmetic(operator, left, right)
        except OverflowError:  # an integer beyond a double met a fraction
            raise self.fail(
                node, f"this expression makes a number {OUT_OF_RANGE}", NUMBER_HINT
            ) from None

    # -- functions and for expressions -------------------------------------------------

    def _function_call(self, node: Tree) -> JsonValue:
        parts = trees(node)
        name_node = parts[0]
        name = str(name_node.children[0])
        arguments = next((p for p in parts if p.data == "arguments"), None)
        args: list[JsonValue] = []
        expand_last = False
        if arguments is not None:
            expand_last = any(
                isinstance(t, Token) and t.type == "ELLIPSIS" for t in arguments.children
            )
        if name in CATCHING:
            if expand_last:
                raise self.fail(
                    node, f"{name}() takes expressions, not a spread list", usage_hint(name)
                )
            return self._catching_call(node, name, [] if arguments is None else trees(arguments))
        if arguments is not None:
            args = [self.eval(a) for a in trees(arguments)]
        if expand_last:
            if not args or not isinstance(args[-1], list):
                raise self.fail(
                    node,
                    "`...` needs a list as the last argument",
                    '`...` spreads a list into arguments, as in join(", ", parts...)',
                )
            args = args[:-1] + list(args[-1])
        if name in (TEMPLATE_FUNCTION, TEMPLATE_VALUE_FUNCTION):
            use = self.source.rewritten.uses[int(to_number(args[1]))]  # the rewriter's index
            try:  # a pasted number may be out of range
                # A template's value is the environment's, as given (config/nfc.py).
                return template_value(use, self.context, name == TEMPLATE_VALUE_FUNCTION)
            except FunctionError as exc:
                raise self.fail(node, exc.reason, exc.hint or EXPRESSION_HINT) from None
        function = function_named(name)
        if function is None:
            known = sorted([*every_function(), *CATCHING])
            guess = nearest(name, known)
            hint = f"did you mean {guess}()? " if guess else ""
            raise StaticError(
                f"unknown function {name}()",
                location=self.where(name_node),
                hint=hint + "known functions: " + ", ".join(known),
            )
        try:
            made = function.call(self.context, args)
            return made if name in AS_GIVEN else nfc(made)
        except EnvUnset as exc:  # the environment's doing: it fails only the task using it
            raise FailsWhereUsed(exc.reason, location=self.where(node), hint=exc.hint) from None
        except FunctionError as exc:
            raise self.fail(node, exc.reason, exc.hint or usage_hint(name)) from None

    def _catching_call(self, node: Tree, name: str, arguments: list[Tree]) -> JsonValue:
        """try(): the first argument that evaluates; can(): whether its one argument
        does. As Terraform's, they hide what depends on values (a missing key, a failed
        conversion, an unset env()) and never a StaticError, nor a variable without a
        value: that value is unknown, not wrong (what it would pick is not known)."""
        if name == "can":
            if len(arguments) != 1:
                raise self.fail(node, "can() takes exactly one argument", usage_hint(name))
            try:
                self.eval(arguments[0])
            except (StaticError, MissingValue):
                raise
            except ConfigError:
                return False
            return True
        if not arguments:
            raise self.fail(node, "try() needs at least one argument", usage_hint(name))
        failures: list[ConfigError] = []
        for argument in arguments:
            try:
                return self.eval(argument)
            except (StaticError, MissingValue):
                raise
            except ConfigError as exc:
                failures.append(exc)
        raise self.fail(
            node,
            "no argument of try() could be evaluated: " + "; ".join(map(str, failures)),
            "add a last argument that cannot fail, such as a literal default",
        )

    def pairs(self, collection: JsonValue, node: Node) -> list[tuple[JsonValue, JsonValue]]:
        """What a `for` iterates over: (index, element) of a list, (key, value) of an
        object in key order."""
        if isinstance(collection, list):
            return list(enumerate(collection))
        if isinstance(collection, dict):
            return [(key, collection[key]) for key in sorted(collection)]
        raise self.fail(
            node,
            f"a for expression needs a list or object, got a {type_name(collection)}",
            "iterate over a list [...] or an object { ... }",
        )

    def _for_intro(self, node: Tree) -> tuple[list[str], JsonValue, Tree]:
        names = [str(t.children[0]) for t in trees(node) if t.data == "identifier"]
        collection_node = next(t for t in trees(node) if t.data != "identifier")
        return names, self.eval(collection_node), collection_node

    def _for_iterations(self, node: Tree) -> list[tuple[Evaluator, list[Tree]]]:
        parts = trees(node)
        names, collection, collection_node = self._for_intro(parts[0])
        condition = next((p for p in parts if p.data == "for_cond"), None)
        out = []
        for key, value in self.pairs(collection, collection_node):
            bound = {names[0]: value} if len(names) == 1 else {names[0]: key, names[1]: value}
            scope = self.child(bound)
            if condition is not None and not scope.boolean(trees(condition)[0]):
                continue
            out.append((scope, [p for p in parts[1:] if p.data != "for_cond"]))
        return out

    def _for_tuple_expr(self, node: Tree) -> JsonValue:
        return [scope.eval(exprs[0]) for scope, exprs in self._for_iterations(node)]

    def _for_object_expr(self, node: Tree) -> JsonValue:
        grouping = any(isinstance(t, Token) and t.type == "ELLIPSIS" for t in node.children)
        out: JsonObject = {}
        for scope, exprs in self._for_iterations(node):
            key_node, value_node = exprs[0], exprs[1]
            key = self.convert(
                key_node, to_string, scope.eval(key_node), "a for-expression key", KEY_HINT
            )
            value = scope.eval(value_node)
            group = out.get(key)
            if grouping and isinstance(group, list):
                group.append(value)
            elif grouping:
                out[key] = [value]
            elif key in out:
                raise self.fail(
                    key_node,
                    f"for expression produces the key {key!r} twice",
                    "add `...` after the value to group values by key",
                )
            else:
                out[key] = value
        return out


def _root_name(node: Node) -> Optional[str]:
    if isinstance(node, Tree) and node.data == "expr_term" and len(node.children) == 1:
        inner = node.children[0]
        if isinstance(inner, Tree) and inner.data == "identifier":
            return str(inner.children[0])
    return None
