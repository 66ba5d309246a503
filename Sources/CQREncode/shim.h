// libqrencode (Debian: libqrencode-dev): QR Code symbols for printed certificates.
#ifndef LESSONLINK_CQRENCODE_SHIM_H
#define LESSONLINK_CQRENCODE_SHIM_H
#include <qrencode.h>
#endif
