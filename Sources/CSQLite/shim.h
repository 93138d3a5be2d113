#ifndef PARKTELEMETRY_CSQLITE_SHIM_H
#define PARKTELEMETRY_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
