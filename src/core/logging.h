// src/core/logging.h — leveled logging to stderr; the level comes from TESSERA_LOG
// (error|warn|info|debug, default info) or set_log_level(). Thread-safe; one line per call.
#pragma once

#include <sstream>
#include <string>

namespace tessera {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_message(LogLevel level, const std::string& message);

}  // namespace tessera

#define TESSERA_LOG(level, expr)                                                  \
  do {                                                                            \
    if (static_cast<int>(::tessera::LogLevel::level) <=                           \
        static_cast<int>(::tessera::log_level())) {                               \
      std::ostringstream _os;                                                     \
      _os << expr;                                                                \
      ::tessera::log_message(::tessera::LogLevel::level, _os.str());              \
    }                                                                             \
  } while (0)
#define LOG_ERROR(expr) TESSERA_LOG(kError, expr)
#define LOG_WARN(expr) TESSERA_LOG(kWarn, expr)
#define LOG_INFO(expr) TESSERA_LOG(kInfo, expr)
#define LOG_DEBUG(expr) TESSERA_LOG(kDebug, expr)
