#include <bn/status.h>

const char *bn_status_string(bn_status status)
{
  switch (status) {
  case BN_OK: return "ok";
  case BN_ERR_INVALID_ARGUMENT: return "invalid argument";
  case BN_ERR_SHAPE_MISMATCH: return "shape mismatch";
  case BN_ERR_OUT_OF_MEMORY: return "out of memory";
  case BN_ERR_SIZE_OVERFLOW: return "size overflow";
  case BN_ERR_WRONG_STATE: return "wrong state";
  case BN_ERR_BATCH_TOO_SMALL: return "batch too small";
  case BN_ERR_NON_FINITE: return "non-finite value";
  case BN_ERR_IO: return "I/O error";
  case BN_ERR_BAD_MAGIC: return "bad magic";
  case BN_ERR_VERSION_MISMATCH: return "version mismatch";
  case BN_ERR_BAD_SIZE: return "bad size";
  case BN_ERR_CHECKSUM: return "checksum mismatch";
  case BN_ERR_BAD_FORMAT: return "bad format";
  case BN_ERR_UNSUPPORTED: return "unsupported";
  }
  return "unknown status";
}

const char *bn_version_string(void)
{
  return BN_VERSION_STRING;
}

unsigned bn_version_number(void)
{
  return BN_VERSION_NUMBER;
}

unsigned bn_abi_version(void)
{
  return BN_ABI_VERSION;
}
