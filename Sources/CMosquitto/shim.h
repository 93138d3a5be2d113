#ifndef PARKTELEMETRY_CMOSQUITTO_SHIM_H
#define PARKTELEMETRY_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>
#endif
