/* The one place that includes the NumPy C-API (see STYLE.md). module.c
 * defines FXPY_IMPORT_ARRAY before including this; every other file does
 * not, so they share the table imported in module.c. */
#ifndef FXPY_NUMPY_H
#define FXPY_NUMPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL featx_ARRAY_API
#ifndef FXPY_IMPORT_ARRAY
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

#endif
