#ifndef PARKTELEMETRY_CMOSQUITTO_SHIM_H
#define PARKTELEMETRY_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>
/* The network thread's wake-up beside libmosquitto's socket (LoopWaker): Glibc's Swift
   module does not bring in eventfd. */
#include <sys/eventfd.h>
#endif
