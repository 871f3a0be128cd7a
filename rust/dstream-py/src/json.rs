//! dstream._core.dumps and Fragment: Python values to JSON bytes, byte for byte as
//! `orjson.dumps` writes them (see _core.pyi), so that dstream's own process need not
//! import orjson (and what orjson drags in) before its first envelope. The bytes are
//! hashed into stored input digests: any change here re-keys every checkpoint.
//!
//! The text primitives are dstream_core::json's; this file only walks the objects, in
//! orjson's order of type checks (exact types first, then subclasses, then enum
//! members, then `default`), with orjson's limits and error messages.

use dstream_core::json as j;
use pyo3::exceptions::{PyTypeError, PyUnicodeEncodeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

/// orjson's recursion limit, as orjson 3.13 applies it (measured, see the tests): every
/// container counts one level (empty ones and tuples too), but only a list or a dict
/// checks, and only for exactly this level; a list reached past it through tuples goes
/// on. `default` results and enum values take their object's level.
const LIMIT_LEVEL: u32 = 255;
/// Nested calls of `default` (the result of one passed to the next): orjson's limit.
const MAX_DEFAULT_CALLS: u32 = 255;
/// Past orjson's rule, deep tuples would run off the stack (orjson itself crashes a
/// few thousand levels down): no container deeper than this.
const MAX_LEVEL: u32 = 1024;

/// Raw JSON text written verbatim by `dumps`, as `orjson.Fragment`.
#[pyclass(frozen, module = "dstream._core")]
pub struct Fragment {
    /// Exactly bytes or str: checked when made, not when first written.
    contents: Py<PyAny>,
}

#[pymethods]
impl Fragment {
    #[new]
    fn new(contents: Bound<'_, PyAny>) -> PyResult<Fragment> {
        if contents.is_exact_instance_of::<PyBytes>() || contents.is_exact_instance_of::<PyString>()
        {
            Ok(Fragment {
                contents: contents.unbind(),
            })
        } else {
            Err(PyTypeError::new_err(
                "Fragment contents must be bytes or str",
            ))
        }
    }

    #[getter]
    fn contents(&self, py: Python<'_>) -> Py<PyAny> {
        self.contents.clone_ref(py)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        match other.cast::<Fragment>() {
            Ok(o) => self
                .contents
                .bind(other.py())
                .eq(o.get().contents.bind(other.py())),
            Err(_) => Ok(false),
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.contents.bind(py).hash()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Fragment({})", self.contents.bind(py).repr()?))
    }
}

/// `value` as JSON text (see _core.pyi).
#[pyfunction]
#[pyo3(signature = (value, /, *, sort_keys = false, indent = false, non_str_keys = false, default = None))]
fn dumps<'py>(
    value: &Bound<'py, PyAny>,
    sort_keys: bool,
    indent: bool,
    non_str_keys: bool,
    default: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut enc = Encoder {
        out: Vec::with_capacity(1024),
        sort_keys,
        indent,
        non_str_keys,
        default,
        enum_meta: None,
    };
    enc.value(value, Path::default())?;
    Ok(PyBytes::new(value.py(), &enc.out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Fragment>()?;
    m.add_function(wrap_pyfunction!(dumps, m)?)
}

/// Where the walk is: the level (which is also the indentation) and the nested
/// `default` calls.
#[derive(Clone, Copy, Default)]
struct Path {
    level: u32,
    defaults: u32,
}

impl Path {
    /// Into a container; `checked`: a list or dict (orjson's limit), not a tuple.
    fn enter(self, checked: bool) -> PyResult<Path> {
        let level = self.level + 1;
        if (checked && level == LIMIT_LEVEL) || level > MAX_LEVEL {
            return Err(PyTypeError::new_err("Recursion limit reached"));
        }
        Ok(Path { level, ..self })
    }
}

struct Encoder<'py> {
    out: Vec<u8>,
    sort_keys: bool,
    indent: bool,
    non_str_keys: bool,
    default: Option<Bound<'py, PyAny>>,
    /// enum.EnumMeta, looked up once when an unusual object first shows up; None inside
    /// while the enum module is not loaded (then no object is an enum member).
    enum_meta: Option<Option<Bound<'py, PyAny>>>,
}

impl<'py> Encoder<'py> {
    fn value(&mut self, obj: &Bound<'py, PyAny>, path: Path) -> PyResult<()> {
        if let Ok(s) = obj.cast_exact::<PyString>() {
            self.string(s)
        } else if obj.is_exact_instance_of::<PyInt>() {
            self.int(obj)
        } else if let Ok(b) = obj.cast_exact::<PyBool>() {
            self.out
                .extend_from_slice(if b.is_true() { b"true" } else { b"false" });
            Ok(())
        } else if obj.is_none() {
            self.out.extend_from_slice(b"null");
            Ok(())
        } else if let Ok(f) = obj.cast_exact::<PyFloat>() {
            write_float(&mut self.out, f.value());
            Ok(())
        } else if let Ok(l) = obj.cast::<PyList>() {
            // A list subclass is written from its items, as orjson does.
            self.array(l.iter(), l.len(), path.enter(true)?)
        } else if let Ok(d) = obj.cast::<PyDict>() {
            self.object(d, path.enter(true)?)
        } else if let Ok(t) = obj.cast_exact::<PyTuple>() {
            self.array(t.iter(), t.len(), path.enter(false)?)
        } else if let Ok(f) = obj.cast::<Fragment>() {
            let contents = f.get().contents.bind(obj.py());
            self.raw(contents)
        } else if let Ok(s) = obj.cast::<PyString>() {
            self.string(s)
        } else if obj.is_instance_of::<PyInt>() {
            // Also bool's (unreachable: bool cannot be subclassed) and IntEnum members.
            self.int(obj)
        } else if self.is_enum_member(obj)? {
            self.value(&obj.getattr(intern!(obj.py(), "value"))?, path)
        } else {
            self.default(obj, path)
        }
    }

    /// Anything else: `default(obj)` written in its place, as orjson.
    fn default(&mut self, obj: &Bound<'py, PyAny>, path: Path) -> PyResult<()> {
        let Some(default) = self.default.clone() else {
            return Err(not_serializable(obj));
        };
        if path.defaults >= MAX_DEFAULT_CALLS {
            return Err(PyTypeError::new_err(
                "default serializer exceeds recursion limit",
            ));
        }
        let replaced = default.call1((obj,)).map_err(|cause| {
            let e = not_serializable(obj);
            e.set_cause(obj.py(), Some(cause));
            e
        })?;
        let path = Path {
            defaults: path.defaults + 1,
            ..path
        };
        self.value(&replaced, path)
    }

    fn is_enum_member(&mut self, obj: &Bound<'py, PyAny>) -> PyResult<bool> {
        if self.enum_meta.is_none() {
            let py = obj.py();
            let modules = py
                .import(intern!(py, "sys"))?
                .getattr(intern!(py, "modules"))?;
            let meta = match modules.cast::<PyDict>()?.get_item("enum")? {
                Some(m) => Some(m.getattr("EnumMeta")?),
                None => None,
            };
            self.enum_meta = Some(meta);
        }
        // orjson takes the exact metaclass only (a member of a class with a custom
        // metaclass goes to `default`).
        Ok(match &self.enum_meta {
            Some(Some(meta)) => obj.get_type().get_type().is(meta),
            _ => false,
        })
    }

    fn string(&mut self, s: &Bound<'py, PyString>) -> PyResult<()> {
        j::write_str(&mut self.out, utf8(s)?.as_bytes());
        Ok(())
    }

    fn int(&mut self, obj: &Bound<'py, PyAny>) -> PyResult<()> {
        if let Ok(v) = obj.extract::<i64>() {
            j::write_i64(&mut self.out, v);
        } else if let Ok(v) = obj.extract::<u64>() {
            j::write_u64(&mut self.out, v);
        } else {
            // Beyond 64 bits orjson refuses; JSON allows any integer, and dstream writes
            // every digit (protocol.values.encode_json did so before). int.__repr__, not
            // str(): an IntEnum member's str() is not its digits.
            self.out.extend_from_slice(big_int_digits(obj)?.as_bytes());
        }
        Ok(())
    }

    fn raw(&mut self, contents: &Bound<'py, PyAny>) -> PyResult<()> {
        match contents.cast::<PyString>() {
            Ok(s) => self.out.extend_from_slice(utf8(s)?.as_bytes()),
            Err(_) => self
                .out
                .extend_from_slice(contents.cast::<PyBytes>()?.as_bytes()),
        }
        Ok(())
    }

    /// Before an item: the separator, and with `indent` a new line at `level`.
    fn item_start(&mut self, first: bool, level: u32) {
        if !first {
            self.out.push(b',');
        }
        self.newline(level);
    }

    fn newline(&mut self, level: u32) {
        if self.indent {
            self.out.push(b'\n');
            self.out.resize(self.out.len() + 2 * level as usize, b' ');
        }
    }

    fn array(
        &mut self,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        len: usize,
        path: Path,
    ) -> PyResult<()> {
        self.out.push(b'[');
        if len > 0 {
            for (i, item) in items.enumerate() {
                self.item_start(i == 0, path.level);
                self.value(&item, path)?;
            }
            self.newline(path.level - 1);
        }
        self.out.push(b']');
        Ok(())
    }

    fn object(&mut self, d: &Bound<'py, PyDict>, path: Path) -> PyResult<()> {
        self.out.push(b'{');
        if d.is_empty() {
            self.out.push(b'}');
            return Ok(());
        }
        if self.sort_keys || self.non_str_keys {
            // orjson turns every key to text before it writes any value here.
            let mut items = Vec::with_capacity(d.len());
            for item in items_of(d) {
                let (k, v) = item?;
                items.push((self.key_text(&k)?, v));
            }
            if self.sort_keys {
                items.sort_by(|a, b| a.0.cmp(&b.0));
            }
            for (i, (key, v)) in items.iter().enumerate() {
                self.member(i == 0, key, v, path)?;
            }
        } else {
            for (i, item) in items_of(d).enumerate() {
                let (k, v) = item?;
                let Ok(k) = k.cast_exact::<PyString>() else {
                    return Err(PyTypeError::new_err("Dict key must be str"));
                };
                self.member(i == 0, utf8(k)?.as_bytes(), &v, path)?;
            }
        }
        self.newline(path.level - 1);
        self.out.push(b'}');
        Ok(())
    }

    fn member(
        &mut self,
        first: bool,
        key: &[u8],
        v: &Bound<'py, PyAny>,
        path: Path,
    ) -> PyResult<()> {
        self.item_start(first, path.level);
        j::write_str(&mut self.out, key);
        self.out
            .extend_from_slice(if self.indent { b": " } else { b":" });
        self.value(v, path)
    }

    /// A key's text: a str; with `non_str_keys` also what orjson makes of the others.
    fn key_text(&mut self, k: &Bound<'py, PyAny>) -> PyResult<Vec<u8>> {
        if let Ok(s) = k.cast_exact::<PyString>() {
            return Ok(utf8(s)?.as_bytes().to_vec());
        }
        if !self.non_str_keys {
            return Err(PyTypeError::new_err("Dict key must be str"));
        }
        if let Ok(s) = k.cast::<PyString>() {
            Ok(utf8(s)?.as_bytes().to_vec())
        } else if let Ok(b) = k.cast_exact::<PyBool>() {
            Ok(if b.is_true() { &b"true"[..] } else { b"false" }.to_vec())
        } else if k.is_instance_of::<PyInt>() {
            if let Ok(v) = k.extract::<i64>() {
                Ok(v.to_string().into_bytes())
            } else if let Ok(v) = k.extract::<u64>() {
                Ok(v.to_string().into_bytes())
            } else {
                Err(PyTypeError::new_err(
                    "Dict integer key must be within 64-bit range",
                ))
            }
        } else if k.is_none() {
            Ok(b"null".to_vec())
        } else if let Ok(f) = k.cast_exact::<PyFloat>() {
            let mut text = Vec::new();
            write_float(&mut text, f.value());
            Ok(text)
        } else if self.is_enum_member(k)? {
            self.key_text(&k.getattr(intern!(k.py(), "value"))?)
        } else {
            Err(PyTypeError::new_err(
                "Dict key must a type serializable with OPT_NON_STR_KEYS",
            ))
        }
    }
}

/// The first `len(d)` items of `d`, as orjson walks them. A `default` may change the
/// dict meanwhile: a change of size is a TypeError here (PyO3's iterator would panic;
/// orjson writes the first items it finds); keys swapped at the same size are walked as
/// orjson walks them.
fn items_of<'a, 'py>(
    d: &'a Bound<'py, PyDict>,
) -> impl Iterator<Item = PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> + 'a {
    let len = d.len();
    let mut iter = d.iter();
    (0..len).map_while(move |_| {
        if d.len() != len {
            return Some(Err(PyTypeError::new_err(
                "dict changed size during iteration",
            )));
        }
        iter.next().map(Ok)
    })
}

/// orjson writes NaN and the infinities as null.
fn write_float(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        j::write_f64(out, v);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// The UTF-8 of `s`; a lone surrogate is orjson's TypeError.
fn utf8<'py>(s: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyBytes>> {
    s.encode_utf8().map_err(|e| {
        if e.is_instance_of::<PyUnicodeEncodeError>(s.py()) {
            PyTypeError::new_err("str is not valid UTF-8: surrogates not allowed")
        } else {
            e
        }
    })
}

fn big_int_digits<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let py = obj.py();
    let repr = py.get_type::<PyInt>().getattr(intern!(py, "__repr__"))?;
    // Python's limit on int-to-text conversion (sys.set_int_max_str_digits) raises
    // ValueError; every error of dumps is a TypeError.
    let text = repr.call1((obj,)).map_err(|cause| {
        let e = PyTypeError::new_err("Integer too large to write as text");
        e.set_cause(py, Some(cause));
        e
    })?;
    text.cast_into::<PyString>()?.encode_utf8()
}

/// orjson's message, which names the type by its C name (tp_name, not readable through
/// the stable ABI): a class statement's bare name, "module.Name" for a type made in C
/// (static or immutable: its module is taken from that name), bare for builtins.
fn not_serializable(obj: &Bound<'_, PyAny>) -> PyErr {
    let name = type_name(&obj.get_type()).unwrap_or_else(|_| "?".to_string());
    PyTypeError::new_err(format!("Type is not JSON serializable: {name}"))
}

fn type_name(ty: &Bound<'_, PyType>) -> PyResult<String> {
    const IMMUTABLETYPE: u64 = 1 << 8;
    const HEAPTYPE: u64 = 1 << 9;
    let name = ty.name()?.to_string();
    let flags: u64 = ty.getattr(intern!(ty.py(), "__flags__"))?.extract()?;
    let module = ty.module()?.to_string();
    let class_statement = flags & HEAPTYPE != 0 && flags & IMMUTABLETYPE == 0;
    Ok(if class_statement || module == "builtins" {
        name
    } else {
        format!("{module}.{name}")
    })
}
