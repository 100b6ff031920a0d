#include "error.h"

#include <stdarg.h>
#include <stdio.h>

bn_status bni_fail(bni_error *err, bn_status status, const char *format, ...)
{
  if (err) {
    va_list args;
    va_start(args, format);
    vsnprintf(err->text, sizeof err->text, format, args);
    va_end(args);
  }
  return status;
}
