/* A transcript line's timestamp, in C: Claude Code writes every one as
   "YYYY-MM-DDTHH:MM:SS.mmmZ", and a cold scan reads one per line (~0.35 us each in Python).

   line_seconds(value, slow) -> float | None

   For a str of exactly that form, a real date and time from 2000 up to (not including) 2100,
   the same float jsonl.checked_time_in_python gives: the hour's POSIX seconds, plus the
   minutes and seconds, plus the milliseconds as n / 1000, added in that order. Any other value
   (not a str, another form, another range, an impossible date) is slow(value), which that
   function is: it decides, so the two never differ. Optional, as _linescan: without it
   jsonl.checked_time calls checked_time_in_python itself (tests/test_isotime.py holds the two
   equal, bit for bit). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define EARLIEST_YEAR 2000
#define LATEST_YEAR 2100 /* exclusive */

static int digits(const char *at, int count, int *value) {
    int total = 0;
    for (int i = 0; i < count; i++) {
        if (at[i] < '0' || at[i] > '9')
            return 0;
        total = total * 10 + (at[i] - '0');
    }
    *value = total;
    return 1;
}

/* Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's days_from_civil). */
static long long days_from_civil(int year, int month, int day) {
    year -= month <= 2;
    const long long era = year / 400; /* years >= 2000 here: no negative division */
    const long long year_of_era = year - era * 400;
    const long long day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    const long long day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* Whether text (24 ASCII bytes) is the form in range; its seconds in *seconds. */
static int parse(const char *text, double *seconds) {
    int year, month, day, hour, minute, second, millis;
    if (text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':' ||
        text[19] != '.' || text[23] != 'Z')
        return 0;
    if (!digits(text, 4, &year) || !digits(text + 5, 2, &month) || !digits(text + 8, 2, &day) ||
        !digits(text + 11, 2, &hour) || !digits(text + 14, 2, &minute) || !digits(text + 17, 2, &second) ||
        !digits(text + 20, 3, &millis))
        return 0;
    if (year < EARLIEST_YEAR || year >= LATEST_YEAR || month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59)
        return 0;
    /* As jsonl._parse_time: (hour's seconds + clock) + millis, each step a double. */
    /* long long: a long is 32 bits on Windows, and 2100's seconds need 33. */
    double base = (double)(days_from_civil(year, month, day) * 86400LL + hour * 3600LL);
    *seconds = base + (double)(minute * 60 + second) + (double)millis / 1000;
    return 1;
}

static PyObject *line_seconds(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "line_seconds(value, slow) takes 2 arguments");
        return NULL;
    }
    PyObject *value = args[0];
    if (PyUnicode_CheckExact(value) && PyUnicode_IS_ASCII(value) && PyUnicode_GET_LENGTH(value) == 24) {
        double seconds;
        if (parse((const char *)PyUnicode_1BYTE_DATA(value), &seconds))
            return PyFloat_FromDouble(seconds);
    }
    return PyObject_CallOneArg(args[1], value);
}

static PyMethodDef methods[] = {
    {"line_seconds", (PyCFunction)(void (*)(void))line_seconds, METH_FASTCALL,
     "A line's timestamp in POSIX seconds, or slow(value) for any but the usual form."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_isotime", NULL, -1, methods};

PyMODINIT_FUNC PyInit__isotime(void) { return PyModule_Create(&module); }
