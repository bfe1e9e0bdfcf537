/* The COPY reader's inner loop in C: cut the rows out of a batch of CopyData messages.

   The numpy framing (numpy_rows.RowCutter) costs about 1.2 s of CPU per GB of
   COPY text on the machines here; this loop costs about 0.3 s, and it runs
   without the GIL, so the parallel streams of a dump frame their rows on
   several cores at once. It is optional: where it was not compiled, the
   numpy framing does the same work (tests compare the two).

   A PostgreSQL message is a type byte, then a 4-byte big-endian length that
   counts itself but not the type byte, then the payload; a CopyData ('d')
   payload is one row. Every length is checked against the bytes at hand
   before anything is copied: the input comes from the network.

   Written against the stable ABI of Python 3.11 (Py_LIMITED_API 0x030B0000,
   defined by setup.py and by the layer's build, layers/build_layer.py): one
   `_copyframe.abi3.so` serves Python 3.11 and later, and what the tests load
   here is compiled from the same API as what the Lambda layer ships. Each
   build defines it, so the file does not: a build without it still compiles. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define HEADER_SIZE 5

/* How far the leading complete CopyData messages of p[0:n] reach, and the size of their payloads. */
static void
measure(const unsigned char *p, Py_ssize_t n, Py_ssize_t *consumed, Py_ssize_t *payload, Py_ssize_t *rows)
{
    Py_ssize_t pos = 0, total = 0, count = 0;
    while (n - pos >= HEADER_SIZE && p[pos] == 'd') {
        uint32_t length = ((uint32_t)p[pos + 1] << 24) | ((uint32_t)p[pos + 2] << 16) |
                          ((uint32_t)p[pos + 3] << 8) | (uint32_t)p[pos + 4];
        /* Compared unsigned: on a 32-bit build a length over 2 GB would turn negative. */
        if (length < 4 || (size_t)length > (size_t)(n - pos - 1))
            break; /* a length that lies, or a message the batch cut: the Python loop takes over */
        total += (Py_ssize_t)length - 4;
        pos += 1 + (Py_ssize_t)length;
        count++;
    }
    *consumed = pos;
    *payload = total;
    *rows = count;
}

static void
gather(const unsigned char *p, Py_ssize_t consumed, unsigned char *out)
{
    Py_ssize_t pos = 0;
    while (pos < consumed) {
        uint32_t length = ((uint32_t)p[pos + 1] << 24) | ((uint32_t)p[pos + 2] << 16) |
                          ((uint32_t)p[pos + 3] << 8) | (uint32_t)p[pos + 4];
        memcpy(out, p + pos + HEADER_SIZE, (size_t)length - 4);
        out += (size_t)length - 4;
        pos += 1 + (Py_ssize_t)length;
    }
}

PyDoc_STRVAR(cut_rows_doc,
             "cut_rows(data: bytes) -> (payloads: bytes | None, consumed: int, rows: int)\n\n"
             "The payloads of the leading CopyData messages of `data` joined, how many bytes\n"
             "those messages take, and how many there are; (None, 0, 0) if `data` does not\n"
             "start with a complete CopyData message. `data` must start at a message.");

static PyObject *
cut_rows(PyObject *module, PyObject *arg)
{
    Py_buffer data;
    Py_ssize_t consumed, payload, rows;
    PyObject *joined;
    unsigned char *out;
    (void)module;
    /* Only bytes, and not a subclass (which could export another buffer): the loops run without the
       GIL, and the second trusts the lengths the first checked, so the input must not be able to
       change in between (a bytearray could). */
    if (!PyBytes_CheckExact(arg)) {
        /* The limited API hides tp_name; PyType_GetName gives the same name for these types. */
        PyObject *name = PyType_GetName(Py_TYPE(arg));
        if (name == NULL) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "cut_rows() takes bytes");
        } else {
            PyErr_Format(PyExc_TypeError, "cut_rows() takes bytes, not %.100U", name);
            Py_DECREF(name);
        }
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    measure(data.buf, data.len, &consumed, &payload, &rows);
    Py_END_ALLOW_THREADS
    if (rows == 0) {
        PyBuffer_Release(&data);
        return Py_BuildValue("(Onn)", Py_None, (Py_ssize_t)0, (Py_ssize_t)0);
    }
    joined = PyBytes_FromStringAndSize(NULL, payload);
    if (joined == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    /* PyBytes_AsString, not the macro the limited API lacks: on a fresh bytes object it cannot fail. */
    out = (unsigned char *)PyBytes_AsString(joined);
    if (out == NULL) {
        Py_DECREF(joined);
        PyBuffer_Release(&data);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    gather(data.buf, consumed, out);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return Py_BuildValue("(Nnn)", joined, consumed, rows);
}

static PyMethodDef methods[] = {
    {"cut_rows", cut_rows, METH_O, cut_rows_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "smokejumper.sources.postgres._copyframe",
    .m_doc = "The COPY reader's row cutting in C (see copy.py).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__copyframe(void)
{
    return PyModule_Create(&module);
}
