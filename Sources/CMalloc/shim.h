#ifndef PARKTELEMETRY_CMALLOC_SHIM_H
#define PARKTELEMETRY_CMALLOC_SHIM_H
#include <malloc.h>
#endif
