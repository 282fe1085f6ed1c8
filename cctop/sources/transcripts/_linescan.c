/* The cold scan's line finder, in C: the same lines fastjsonl's pure-Python loop would read,
   found without a Python step per line. Optional: when this extension is not built (no
   compiler), fastjsonl's loop does the same work (tests/test_linescan.py holds the two equal).

   interesting_lines(data, stop, inert, named) -> [start, newline, code, start, newline, code, ...]

   For every non-empty line of data[:stop] that the parser must read: where it starts, where
   its newline stands (stop for a last line without one) and a code: 0 for a conversation line
   whose first nested object is its "message" (user or assistant: decoded at once), 2 + i for a
   line whose kind is named[i], 1 for any other line (the parser finds its kind itself). A line
   is left out when its kind, read from its first bytes by the rules of fastjsonl.kind_of and
   FastTranscriptParser.feed, is one of ``inert`` and it ends its object with "}". ``inert``
   and ``named`` are tuples of bytes. Only reads, all within [0, stop): transcripts are
   untrusted input. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define LIT(s) (s), (sizeof(s) - 1)

static const char *find_byte(const char *from, const char *limit, char byte) {
    return from < limit ? memchr(from, byte, (size_t)(limit - from)) : NULL;
}

static const char *find_bytes(const char *from, const char *limit, const char *needle, size_t size) {
    for (const char *at = find_byte(from, limit, needle[0]); at != NULL; at = find_byte(at + 1, limit, needle[0])) {
        if ((size_t)(limit - at) < size)
            return NULL;
        if (memcmp(at, needle, size) == 0)
            return at;
    }
    return NULL;
}

static int starts_with(const char *at, const char *limit, const char *prefix, size_t size) {
    return (size_t)(limit - at) >= size && memcmp(at, prefix, size) == 0;
}

/* Whether [line, last] (last: the object's "{" that ends the head) ends with the prefix. */
static int head_ends_with(const char *line, const char *last, const char *suffix, size_t size) {
    return (size_t)(last + 1 - line) >= size && memcmp(last + 1 - size, suffix, size) == 0;
}

/* The index of the kind [kind, kind + size) in the tuple of bytes ``names``, or -1. */
static Py_ssize_t index_of(const char *kind, size_t size, PyObject *names) {
    Py_ssize_t count = PyTuple_GET_SIZE(names);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if ((size_t)PyBytes_GET_SIZE(name) == size && memcmp(PyBytes_AS_STRING(name), kind, size) == 0)
            return i;
    }
    return -1;
}

static int is_inert(const char *kind, size_t size, PyObject *inert) { return index_of(kind, size, inert) >= 0; }

enum { READ_MESSAGE = 0, READ_OTHER = 1, READ_NAMED = 2, SKIP = -1 };

/* What to do with the line [line, end): end is its newline (or stop). */
static Py_ssize_t classify(const char *line, const char *end, PyObject *inert, PyObject *named) {
    const char *kind = NULL, *quote = NULL;
    if (starts_with(line, end, LIT("{\"type\":\""))) {
        kind = line + 9;
        quote = find_byte(kind, end - line > 64 ? line + 64 : end, '"');
    } else if (starts_with(line, end, LIT("{\"parentUuid\":"))) {
        const char *nested = find_byte(line + 14, end, '{');
        if (nested != NULL && head_ends_with(line, nested, LIT("\"message\":{")))
            return READ_MESSAGE;
        const char *type = find_bytes(line + 14, nested != NULL ? nested : end, LIT("\"type\":\""));
        if (type != NULL) {
            kind = type + 8;
            quote = find_byte(kind, end - type > 72 ? type + 72 : end, '"');
        } else if (nested != NULL && head_ends_with(line, nested, LIT("\"attachment\":{"))) {
            return end[-1] == '}' && is_inert(LIT("attachment"), inert) ? SKIP : READ_OTHER;
        }
    }
    if (quote == NULL)
        return READ_OTHER;
    if (end[-1] == '}' && is_inert(kind, (size_t)(quote - kind), inert))
        return SKIP;
    Py_ssize_t index = index_of(kind, (size_t)(quote - kind), named);
    return index >= 0 ? READ_NAMED + index : READ_OTHER;
}

static PyObject *interesting_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyTuple_Check(args[2]) || !PyTuple_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "interesting_lines(data, stop, inert, named): two tuples of bytes");
        return NULL;
    }
    for (int which = 2; which < 4; which++) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args[which]); i++) {
            if (!PyBytes_Check(PyTuple_GET_ITEM(args[which], i))) {
                PyErr_SetString(PyExc_TypeError, "kinds must be bytes");
                return NULL;
            }
        }
    }
    Py_ssize_t stop = PyLong_AsSsize_t(args[1]);
    if (stop == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer buffer;
    if (PyObject_GetBuffer(args[0], &buffer, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        goto done;
    const char *data = buffer.buf;
    if (stop > buffer.len)
        stop = buffer.len;
    if (stop < 0)
        stop = 0;
    const char *limit = data + stop;
    for (const char *line = data; line < limit;) {
        const char *newline = find_byte(line, limit, '\n');
        const char *end = newline != NULL ? newline : limit;
        if (end > line) {
            Py_ssize_t what = classify(line, end, args[2], args[3]);
            if (what != SKIP) {
                PyObject *triple[3] = {PyLong_FromSsize_t(line - data), PyLong_FromSsize_t(end - data),
                                       PyLong_FromSsize_t(what)};
                int failed = triple[0] == NULL || triple[1] == NULL || triple[2] == NULL;
                for (int i = 0; i < 3; i++) {
                    if (!failed && PyList_Append(out, triple[i]) < 0)
                        failed = 1;
                    Py_XDECREF(triple[i]);
                }
                if (failed) {
                    Py_CLEAR(out);
                    goto done;
                }
            }
        }
        line = end + 1;
    }
done:
    PyBuffer_Release(&buffer);
    return out;
}

static PyMethodDef methods[] = {
    {"interesting_lines", (PyCFunction)(void (*)(void))interesting_lines, METH_FASTCALL,
     "The lines of data[:stop] to read: [start, newline, code, ...] (see the module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_linescan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__linescan(void) { return PyModule_Create(&module); }
